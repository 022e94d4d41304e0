"""Writing results: atomic JSON/text files and Markdown tables (pure rendering functions)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tks_lava.io import atomic_path


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples and Paths turned into plain JSON types.

    NaN and infinities become ``None`` (JSON has no NaN).
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temp file beside it and ``os.replace``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented JSON, atomically."""
    return write_text_atomic(path, json.dumps(to_jsonable(payload), indent=1) + "\n")


def read_json(path: str | os.PathLike) -> Any | None:
    """The JSON in ``path``, or None if the file is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub Markdown table. ``align``: one letter per column, ``l`` or ``r`` (default: the
    first column left, the others right). Cells are ``str()``-ed; ``|`` is escaped."""
    n = len(headers)
    align = align or ("l" + "r" * (n - 1))
    if len(align) != n:
        raise ValueError(f"align {align!r} has {len(align)} letters for {n} columns")
    for i, row in enumerate(rows):
        if len(row) != n:
            raise ValueError(f"row {i} has {len(row)} cells, the table has {n} columns")
    rule = ["---:" if a == "r" else ":---" for a in align]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(rule) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
