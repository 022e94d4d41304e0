"""The model card: a typed record of what an exported model is and how it came to be.

It says how the model was trained and chosen and how accurate it is; every reader (run_netx,
demo, benchmarks, notebooks) goes through :class:`ModelCard`.

Each fact lives once: T is ``framing.timesteps``, the class count is ``len(classes)``, Lava's
input layout is derived from ``input_shape`` where it is needed. Format 1 cards (the first
shipped models) still load; :meth:`ModelCard.from_dict` maps them onto this schema.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tks_lava.data.frames import FrameConfig
from tks_lava.io import sha256_file, write_json_atomic
from tks_lava.model.network import ArchitectureError, ModelConfig

CARD_FORMAT = "tks_lava.model_card/2"
OLD_FORMATS = ("tks_lava.model_card/1",)
CARD_FILE = "model_card.json"


class CardError(ValueError):
    """A model card that is unreadable or incomplete (the message names the file and key)."""


@dataclass
class ModelCard:
    """What an exported model is (``.net`` + ``.pt`` beside the card) and how it came to be.

    Parameters:
        net_file, weights_file: the NetX HDF5 and PyTorch files, relative to the card.
        sha256: digest of ``net_file`` (:meth:`verify` checks it).
        dataset, framing, dataset_params: the data and how it becomes frames (T =
            ``framing.timesteps``);
            ``dataset_params``: generator parameters of a generated dataset, else None.
        input_shape: (C, H, W) of a frame. classes: class names, index = label.
        latency: steps SLAYER's pipeline delays the output (NetX's latency, checked on export).
        model_config: the architecture. method: the loss (``tks``, ``baseline``, ``tet``, ``ls``).
        hyperparameters: training settings (optimizer, schedule, lam, augmentation, ...).
        selection: how the exported epoch was chosen: ``rule`` (``val``/``last``), ``epoch``
            and the validation split (never the test split).
        torch_accuracy: test accuracy of the exported model in PyTorch: ``split``, ``n``,
            ``protocol`` (``prefix``: the first t of T frames), ``per_step``, ``cumulative``.
        history: one row per epoch (losses and parts, lr, lam, teacher fraction, validation
            per-step accuracy, seconds).
        train_time_s, command, created, versions: cost, how to reproduce, when, with what.
        environment: where and from which code it was trained (optional: older cards lack
            it): ``device``, ``device_name``, ``neuron_kernels``, ``threads``,
            ``deterministic``, ``git_commit`` (None outside a git checkout), ``git_dirty``,
            ``invoked`` (the command as typed; ``command`` pins every setting).
    """

    net_file: str
    sha256: str
    weights_file: str
    dataset: str
    framing: FrameConfig
    input_shape: tuple[int, int, int]
    classes: list[str]
    latency: int
    model_config: ModelConfig
    method: str
    hyperparameters: dict[str, Any]
    selection: dict[str, Any]
    torch_accuracy: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    train_time_s: float = 0.0
    command: str = ""
    created: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    dataset_params: dict[str, Any] | None = None
    environment: dict[str, Any] | None = None
    format: str = CARD_FORMAT

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def timesteps(self) -> int:
        """T the model was trained with."""
        return self.framing.timesteps

    @property
    def epoch(self) -> int:
        """The exported epoch (1-based)."""
        return int(self.selection["epoch"])

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d.update(
            framing=self.framing.to_dict(),
            input_shape=list(self.input_shape),
            model_config=self.model_config.to_dict(),
        )
        return {"format": d.pop("format"), **d}

    @classmethod
    def from_dict(cls, d: Any, where: str = "model card") -> ModelCard:
        """Check and type a card dict (format 1 or 2); :class:`CardError` names what is wrong."""
        if not isinstance(d, dict):
            raise CardError(f"{where}: a model card must be a JSON object, got {type(d).__name__}")
        fmt = d.get("format")
        if fmt in OLD_FORMATS:
            d = _from_v1(d)
        elif fmt == CARD_FORMAT and "frames" in d and "framing" not in d:
            d = {("framing" if k == "frames" else k): v for k, v in d.items()}  # first v2 cards
        elif fmt != CARD_FORMAT:
            raise CardError(f"{where}: model card format {fmt!r}, expected {CARD_FORMAT!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if _required(f)}
        missing = sorted(required - set(d))
        if missing:
            raise CardError(f"{where}: model card lacks key(s) {', '.join(missing)}")
        unknown = sorted(set(d) - names)
        if unknown:
            raise CardError(f"{where}: unknown model card key(s) {', '.join(unknown)}")
        try:
            values = dict(d)
            values["framing"] = FrameConfig.from_dict(d["framing"])
            values["model_config"] = ModelConfig.from_dict(d["model_config"], where)
            values["input_shape"] = tuple(int(v) for v in d["input_shape"])
            values["classes"] = [str(c) for c in d["classes"]]
            values["latency"] = int(d["latency"])
        except (ArchitectureError, TypeError, ValueError) as err:
            raise CardError(f"{where}: {err}") from None
        if len(values["input_shape"]) != 3:
            raise CardError(f"{where}: input_shape must be (C, H, W), got {d['input_shape']}")
        return cls(**values)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ModelCard:
        """Read and check a card file; :class:`CardError` naming the file on any problem."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise CardError(f"{path}: cannot read model card ({err})") from err
        return cls.from_dict(d, str(path))

    def write(self, path: str | os.PathLike) -> Path:
        """Write the card as JSON, atomically."""
        return write_json_atomic(path, self.to_dict())

    def files(self, card_path: str | os.PathLike) -> dict[str, Path]:
        """Paths of the ``net`` and ``weights`` files (they sit beside the card)."""
        parent = Path(card_path).parent
        return {"net": parent / self.net_file, "weights": parent / self.weights_file}

    def verify(self, net_path: str | os.PathLike) -> str:
        """Check that ``net_path`` is the file this card describes (sha256); return the digest."""
        digest = sha256_file(net_path)
        if digest != self.sha256:
            raise CardError(
                f"{net_path}: sha256 {digest[:16]}... does not match its model card "
                f"({self.sha256[:16]}...); the .net file was modified or belongs to another model"
            )
        return digest

    def replace(self, **changes: Any) -> ModelCard:
        return dataclasses.replace(self, **changes)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _from_v1(d: dict[str, Any]) -> dict[str, Any]:
    """A format-1 card in format-2 form: duplicates dropped, the selection made explicit."""
    v1 = dict(d)
    v1["framing"] = v1.pop("frames")
    if int(v1["timesteps"]) != int(v1["framing"]["timesteps"]):
        raise CardError(f"format-1 card: timesteps {v1['timesteps']} != frames.timesteps")
    for key in ("lava_input_shape", "num_classes", "timesteps", "seconds_per_epoch"):
        v1.pop(key, None)
    v1["selection"] = {
        "rule": "test (format-1 card: the epoch with the best test accuracy)",
        "epoch": int(v1.pop("epoch")),
    }
    v1.setdefault("torch_accuracy", {}).setdefault("protocol", "prefix")
    v1["format"] = CARD_FORMAT
    return v1
