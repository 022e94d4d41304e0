"""How much each benchmark measures: the full run (``make bench``) and ``--quick``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_OUT = BENCH_DIR / "results"
DEFAULT_MARKDOWN = REPO / "BENCHMARKS.md"

#: loss methods timed by the training section, in the interleaving order
METHODS = ("baseline", "tks", "tet")


@dataclass(frozen=True)
class RunContext:
    """What a section's ``run(settings, ctx)`` needs besides the sizes: where the shipped models
    are (None = ``netx_models/``), where outputs such as plots go, and how to log progress."""

    out_dir: Path = DEFAULT_OUT
    models_dir: Path | None = None
    log: Callable[[str], None] = print


@dataclass(frozen=True)
class Settings:
    """Repeat counts and sizes. ``full()`` is what ``make bench`` runs (< 20 min on 2 cores)."""

    quick: bool = False
    repeats: int = 5  # timed repeats of every figure (training of vgg_snn: vgg_repeats)
    # training: optimizer steps per timed repeat and batch sizes. vgg_snn takes ~10-25 s per
    # sample per step on 2 CPU cores (it grows with the batch), so it gets batch 2 and 1 step.
    train_steps: int = 4
    train_repeats: int = 7
    train_batch: int = 32
    vgg_steps: int = 1
    vgg_repeats: int = 3
    vgg_batch: int = 2
    # data: recordings binned / read per repeat (None = the whole test split)
    data_samples: int | None = None
    ncaltech_samples: int = 10
    ncaltech_events: int = 100_000
    # deployment: samples per Lava run (also the PyTorch batch-32 batch), Lava repeats
    lava_samples: int = 32
    lava_repeats: int = 3
    # parallel Lava runtimes: samples run with --jobs 1 and one job per core
    jobs_samples: int = 256
    # early exit: test samples (None = the whole test split)
    eval_samples: int | None = None
    # early exit inside Lava: samples of the per-threshold runs (None = the whole test split),
    # and of the paired timing repeats
    exit_samples: int | None = None
    exit_timing_samples: int = 128
    exit_repeats: int = 3

    @classmethod
    def full(cls) -> Settings:
        return cls()

    @classmethod
    def quick_settings(cls) -> Settings:
        """Tiny sizes to check that everything runs (numbers are not representative)."""
        return cls(
            quick=True,
            repeats=2,
            train_steps=1,
            train_repeats=2,  # full batch sizes: the quick run's s/step extrapolate to the full run
            vgg_repeats=1,
            data_samples=40,
            ncaltech_samples=2,
            lava_samples=4,
            lava_repeats=2,
            jobs_samples=8,
            eval_samples=64,
            exit_samples=24,
            exit_timing_samples=12,
            exit_repeats=2,
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
