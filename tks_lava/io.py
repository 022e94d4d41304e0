"""Atomic file writes, file digests and Markdown tables: what every module that writes outputs
uses.

A reader never sees a half-written file and a failed write leaves the old file untouched: the
data goes to a temp file beside the target (same filesystem), then ``os.replace`` moves it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


def _tmp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success move it onto ``target`` atomically.

    On error the temp file is removed and ``target`` keeps its old contents.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_name(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return write_bytes_atomic(path, text.encode())


def to_jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays, tuples and Paths turned into plain JSON types.

    NaN and infinities become ``None`` (JSON has no NaN); dict keys become strings.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "tolist"):  # numpy arrays and scalars, torch tensors
        return to_jsonable(obj.tolist())
    if isinstance(obj, float) and (math.isnan(obj) or math.isinf(obj)):
        return None
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON (one trailing newline) atomically."""
    return write_bytes_atomic(path, (json.dumps(obj, indent=1) + "\n").encode())


def copy_atomic(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy the file ``src`` to ``dst`` atomically."""
    import shutil

    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)


def write_npz_atomic(path: str | os.PathLike, **arrays: Any) -> Path:
    """Write ``arrays`` as an uncompressed ``.npz`` at ``path`` (name kept as given), atomically."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: Markdown column alignment by letter: left, right, centre, none (the renderer's default)
_RULES = {"l": ":---", "r": "---:", "c": ":---:", "-": "---"}


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub Markdown table. ``align``: one letter per column, ``l``, ``r``, ``c`` or ``-``
    (none); default: the first column left, the others right. Cells are ``str()``-ed, ``|``
    escaped and newlines turned into spaces so that a cell cannot break the table."""
    n = len(headers)
    align = align or ("l" + "r" * (n - 1))
    if len(align) != n or set(align) - set(_RULES):
        raise ValueError(f"align {align!r} needs one of {''.join(_RULES)} per column ({n})")
    for i, row in enumerate(rows):
        if len(row) != n:
            raise ValueError(f"row {i} has {len(row)} cells, the table has {n} columns")
    lines = [headers, [_RULES[a] for a in align], *rows]
    return "\n".join("| " + " | ".join(_cell(c) for c in line) + " |" for line in lines)
