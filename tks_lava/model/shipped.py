"""The models shipped in ``netx_models/``: names, the command that makes each, one check.

The check: a shipped card, its ``.net`` (sha256) and its ``.pt`` belong together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch and lava-dl load on use, so CLIs that name the models start fast
    from tks_lava.model.card import ModelCard

SHIPPED_TKS = "ndigits_tks"
SHIPPED_BASELINE = "ndigits_baseline"
#: The shipped pair: same data, seed, architecture, budget and selection; only the loss differs.
SHIPPED = (SHIPPED_TKS, SHIPPED_BASELINE)
_METHOD = {SHIPPED_TKS: "tks", SHIPPED_BASELINE: "baseline"}


def recipe(name: str) -> list[str]:
    """``python -m tks_lava.train`` arguments that make (and publish) the shipped model."""
    method = _METHOD[name]
    out_dir = f"runs/ship-ndigits-{method}"  # names and methods hold no spaces
    words = f"--dataset ndigits --method {method} --seed 0 --out-dir {out_dir} --publish {name}"
    return words.split()


@dataclass(frozen=True)
class ShippedModel:
    """A shipped model whose card, ``.net`` and ``.pt`` were found and checked."""

    name: str
    card_path: Path
    card: ModelCard
    net: Path
    weights: Path


def find_shipped(
    models_dir: str | Path | None = None, names: tuple[str, ...] = SHIPPED
) -> tuple[dict[str, ShippedModel], dict[str, str]]:
    """``(found, skipped)``: checked models by name, and a one-line reason per missing or
    broken one (missing file, unreadable card, sha256 mismatch)."""
    from tks_lava.model.card import CardError, ModelCard
    from tks_lava.model.export import default_publish_dir

    base = Path(models_dir) if models_dir is not None else default_publish_dir()
    found: dict[str, ShippedModel] = {}
    skipped: dict[str, str] = {}
    for name in names:
        card_path = base / f"{name}.json"
        if not card_path.is_file():
            skipped[name] = (
                f"shipped model {card_path} not found; make it with `python -m tks_lava.train "
                f"{' '.join(recipe(name))}` (or `make demo`), then rerun"
            )
            continue
        try:
            card = ModelCard.load(card_path)
            files = card.files(card_path)
            for kind, path in files.items():
                if not path.is_file():
                    raise CardError(f"{kind} file {path} named by the card is missing")
            card.verify(files["net"])
        except (CardError, OSError) as err:
            skipped[name] = f"{card_path}: {err}"
            continue
        found[name] = ShippedModel(name, card_path, card, files["net"], files["weights"])
    return found, skipped


def shipped_models_current(models_dir: str | Path | None = None) -> bool:
    """True when every shipped model is present and its card matches its files."""
    return not find_shipped(models_dir)[1]
