"""Classify recordings you bring (``.bin`` files) with a published model, in Lava.

Per-step class probabilities, parity with PyTorch, and a check that the recording fits the model.

A recording is framed exactly as the model's training data (the card's dataset sensor and
framing). Before that, its pixel extent is compared with that sensor: events outside it are
refused (the sizes are named); a recording that covers less than half of the sensor in both
directions would be squashed into a corner of the frame, so that is refused too unless the
caller accepts it (``allow_small``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tks_lava.data.frames import fills_a_corner
from tks_lava.metrics import running_probabilities
from tks_lava.model.card import ModelCard
from tks_lava.model.evaluation import ModelMismatchError


class RecordingMismatchError(ModelMismatchError):
    """A recording that does not fit the model's sensor (the message names both sizes)."""


@dataclass
class RecordingResult:
    """Lava's per-step logits of one recording and what they mean."""

    path: Path
    classes: list[str]
    lava_logits: np.ndarray  # (C, T)
    torch_logits: np.ndarray | None  # (C, T)
    events: int
    extent: tuple[int, int]  # (W, H) spanned by the events

    @property
    def probabilities(self) -> np.ndarray:
        """(T, C) softmax of the running mean of the logits up to each step."""
        return running_probabilities(self.lava_logits[None])[0].T

    def top_k(self, k: int = 3) -> list[list[tuple[str, float]]]:
        """Per step, the k most probable classes and their probabilities."""
        p = self.probabilities
        order = np.argsort(-p, axis=1, kind="stable")[:, :k]
        return [[(self.classes[c], float(p[t, c])) for c in row] for t, row in enumerate(order)]


def recording_files(path: str | Path) -> list[Path]:
    """``path`` itself, or the ``.bin`` files in a folder (recursively, sorted)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.bin") if not p.name.startswith("."))
        if not files:
            raise FileNotFoundError(f"{path}: no .bin recordings in this folder")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"{path}: recording not found")
    return [path]


def check_fits(
    extent: tuple[int, int], sensor: tuple[int, int], where: str, allow_small: bool = False
) -> None:
    """Refuse a recording spanning (W, H) = ``extent`` on a model sensor (W, H) = ``sensor``
    when it does not fit, or when it fills less than half of it in both directions."""
    (w, h), (sw, sh) = extent, sensor
    if w > sw or h > sh:
        raise RecordingMismatchError(
            f"{where}: the recording spans {w}x{h} px (W x H) but the model's sensor is "
            f"{sw}x{sh}; use a model trained on a {w}x{h} (or larger) sensor"
        )
    if not allow_small and fills_a_corner(extent, sensor):
        raise RecordingMismatchError(
            f"{where}: the recording spans only {w}x{h} px of the model's {sw}x{sh} sensor, "
            "so it would land squashed in one corner of every frame; use a model trained on "
            f"{w}x{h} recordings (or pass allow_small / --allow-small to run it anyway)"
        )


def recording_frames(
    path: Path, card: ModelCard, allow_small: bool = False
) -> tuple[torch.Tensor, int, tuple[int, int]]:
    """Frames (1, C, H, W, T) of one recording as the card's model saw its training data,
    the number of events and the (W, H) extent."""
    from tks_lava.data import aer
    from tks_lava.data.frames import events_to_frames
    from tks_lava.data.registry import get_spec

    events = aer.read_events(path)
    if len(events) == 0:
        raise RecordingMismatchError(f"{path}: the recording has no events")
    spec = get_spec(card.dataset)
    sw, sh, pols = spec.sensor_size
    extent = (int(events["x"].max()) + 1, int(events["y"].max()) + 1)
    check_fits(extent, (sw, sh), str(path), allow_small)
    if int(events["p"].max()) >= pols:
        raise RecordingMismatchError(f"{path}: polarity {int(events['p'].max())} >= {pols}")
    frames = events_to_frames(events, spec.sensor_size, card.framing)
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))[None]
    if tuple(x.shape[1:4]) != tuple(card.input_shape):
        raise RecordingMismatchError(
            f"{path}: framed to {tuple(x.shape[1:4])}, the model expects {card.input_shape}"
        )
    return x, len(events), extent


def classify_recordings(
    path: str | Path,
    card_path: Path,
    *,
    models: str = "fast",
    parity: bool = True,
    allow_small: bool = False,
    progress: bool = False,
) -> list[RecordingResult]:
    """Run every recording under ``path`` through the card's model in Lava (one runtime)."""
    from tks_lava.deploy.netx_eval import load_checked_card
    from tks_lava.deploy.window import run_lava, torch_logits
    from tks_lava.model.export import load_torch_model

    _, card, files = load_checked_card(card_path)
    paths = recording_files(path)
    framed = [recording_frames(p, card, allow_small) for p in paths]
    x = torch.cat([f[0] for f in framed])
    lava = run_lava(files["net"], x, models=models, progress=progress).logits
    ref = torch_logits(load_torch_model(files["weights"]), x) if parity else None
    return [
        RecordingResult(p, card.classes, lava[i], None if ref is None else ref[i], n, ext)
        for i, (p, (_, n, ext)) in enumerate(zip(paths, framed, strict=True))
    ]


def plot_probabilities(result: RecordingResult, path: str | Path, top: int = 3) -> Path:
    """Save probability vs step of the ``top`` classes most probable at the last step."""
    from matplotlib.figure import Figure

    from tks_lava.io import atomic_path

    p = result.probabilities
    steps = np.arange(1, len(p) + 1)
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.subplots()
    for c in np.argsort(-p[-1], kind="stable")[:top]:
        ax.plot(steps, p[:, c], "o-", label=f"class {result.classes[c]}")
    ax.set(
        title=f"{result.path.name}: Lava, running-mean softmax ({result.events} events)",
        xlabel="step t (frames seen)",
        ylabel="probability",
        ylim=(0, 1.02),
    )
    ax.set_xticks(steps)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return Path(path)
