"""The models shipped in ``netx_models/``: names, the command that makes each, where they are,
one check.

Where: :func:`find_models_dir`, the one rule for every reader (``run_netx``, the demo, the
benchmarks, the notebooks). In a clone that is ``netx_models/`` at the top of the repository;
an installed package (``pip install .`` or from a git URL, not editable) carries a copy as
wheel data (``<prefix>/share/tks_lava/netx_models``, see ``pyproject.toml``); the environment
variable :data:`MODELS_ENV` or a command's ``--models-dir`` points anywhere else.

The check: a shipped card, its ``.net`` (sha256) and its ``.pt`` belong together."""

from __future__ import annotations

import os
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
#: environment variable naming a models folder (``--models-dir`` takes precedence)
MODELS_ENV = "TKS_LAVA_MODELS"
#: where the wheel installs the shipped models, relative to the install prefix
INSTALLED_MODELS = ("share", "tks_lava", "netx_models")


def checkout_models_dir() -> Path:
    """``netx_models/`` beside the ``tks_lava`` package: the repository's, in a clone."""
    import tks_lava

    return Path(tks_lava.__file__).resolve().parents[1] / "netx_models"


def installed_models_dir() -> Path | None:
    """The shipped models installed with the package as wheel data, if they were."""
    from importlib import metadata

    try:
        files = metadata.distribution("tks_lava").files or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if tuple(f.parts[-4:-1]) == INSTALLED_MODELS and f.name.endswith(".json"):
            folder = Path(f.locate()).resolve().parent
            return folder if folder.is_dir() else None
    return None


def find_models_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """Where published models are read: ``explicit`` (a ``--models-dir``), else
    ``$TKS_LAVA_MODELS``, else the clone's ``netx_models/``, else the installed copy; None if
    none of the last two exists (:func:`models_not_found` says what to do)."""
    chosen = explicit or os.environ.get(MODELS_ENV)
    if chosen:
        return Path(chosen).expanduser()
    checkout = checkout_models_dir()
    return checkout if checkout.is_dir() else installed_models_dir()


def models_not_found(what: str) -> str:
    """The message for a model that no models folder holds: every way to name one."""
    return (
        f"{what}: no models folder found (not in a clone with netx_models/, and the installed "
        f"package carries none). Name one with --models-dir DIR or the environment variable "
        f"{MODELS_ENV}=DIR (a folder of NAME.json/.net/.pt, e.g. a clone's netx_models/), or "
        "pass --model path/to/NAME.json"
    )


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
    broken one (missing file, unreadable card, sha256 mismatch). ``models_dir``: see
    :func:`find_models_dir` (its default when None)."""
    from tks_lava.model.card import CardError, ModelCard

    base = find_models_dir(models_dir)
    found: dict[str, ShippedModel] = {}
    skipped: dict[str, str] = {}
    for name in names:
        if base is None:
            skipped[name] = models_not_found(f"shipped model {name}")
            continue
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
