"""The shipped models (``netx_models/NAME.json`` + ``.net`` + ``.pt``) and their test data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.settings import SHIPPED


def default_models_dir() -> Path:
    from tks_lava.export import default_publish_dir

    return default_publish_dir()


def find_shipped(
    models_dir: str | Path | None = None, names: tuple[str, ...] = SHIPPED
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``(found, skipped)``: found maps a name to ``{"card", "card_path", "net", "weights"}``;
    skipped maps a name to a one-line reason (missing file, bad card, sha256 mismatch)."""
    from tks_lava.export import card_files, load_card, verify_card

    base = Path(models_dir) if models_dir is not None else default_models_dir()
    found: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        card_path = base / f"{name}.json"
        if not card_path.is_file():
            skipped[name] = (
                f"shipped model {card_path} not found; train and publish it with "
                f"`python -m tks_lava.train --dataset ndigits --method {name.split('_')[-1]} "
                f"--publish {name}` (or `make demo`), then rerun"
            )
            continue
        try:
            card = load_card(card_path)
            files = card_files(card_path, card)
            for kind, path in files.items():
                if not path.is_file():
                    raise ValueError(f"{kind} file {path} named by the card is missing")
            verify_card(card, files["net"])
        except (ValueError, OSError) as err:
            skipped[name] = f"{card_path}: {err}"
            continue
        found[name] = {"card": card, "card_path": card_path, **files}
    return found, skipped


def load_test_split(card: dict[str, Any], limit: int | None = None) -> tuple[Any, Any]:
    """Test-split frames (N, C, H, W, T) float32 tensor and labels (N,) numpy of a card."""
    from tks_lava.netx_eval import load_eval_data

    return load_eval_data(card, split="test", limit=limit, progress=False)
