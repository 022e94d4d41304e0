"""``python -m tks_lava.train``: train a TKS (or baseline) SNN and export it to NetX.

A thin layer over :mod:`tks_lava.training`: arguments left out take the dataset's defaults
(``tks_lava.training.dataset_defaults``); the resolved config is saved as ``config.json`` in the
run folder. Exit status 0 on success, 2 on a usage or data problem (one-line message, no
traceback), 130 on Ctrl-C and 143 on SIGTERM (one line; the run resumes from its last finished
epoch with ``--resume``).

Examples::

    python -m tks_lava.train                                  # TKS on the offline ndigits
    python -m tks_lava.train --method baseline --publish ndigits_baseline
    python -m tks_lava.train --dataset ncaltech101 --data-root ~/data   # VGG-SNN, 48x48, T=10
    python -m tks_lava.train --resume runs/ndigits-tks-20260101-120000
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from tks_lava.data.aer import EventFormatError
from tks_lava.data.registry import DATASETS
from tks_lava.data.spec import DatasetLayoutError, DatasetNotFoundError
from tks_lava.model.kernels import NEURON_KERNELS
from tks_lava.model.network import ARCHITECTURES, NEURON_PRESETS, ArchitectureError
from tks_lava.training import (
    COMMON_DEFAULTS,
    DATASET_DEFAULTS,
    SELECT_RULES,
    ConfigError,
    TrainConfig,
    dataset_defaults,
    format_accuracy_table,
    resolve_config,
    resume_config,
    train,
)
from tks_lava.training import checkpoint as ckpt
from tks_lava.training.augment import AUGMENT_OPS
from tks_lava.training.distributed import failure_message, from_env
from tks_lava.training.losses import LOSSES, NO_TEACHER, TEACHER_REDUCE

DATA_ERRORS = (
    DatasetNotFoundError,
    DatasetLayoutError,
    EventFormatError,
    ConfigError,
    ArchitectureError,
)


def _defaults_help() -> str:
    """The defaults table as help text (generated, so it cannot drift from the table)."""

    def fmt(d: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in d.items())

    own = {
        name: {
            k: v for k, v in dataset_defaults(name).items() if k not in COMMON_DEFAULTS or k in row
        }
        for name, row in DATASET_DEFAULTS.items()
    }
    rows = "; ".join(f"{name}: {fmt(d)}" for name, d in own.items())
    return f"Defaults for every dataset: {fmt(COMMON_DEFAULTS)}. Per dataset: {rows}."


def build_parser() -> argparse.ArgumentParser:
    """Every option defaults to None = "take the dataset's default" (or the resumed run's)."""
    p = argparse.ArgumentParser(
        prog="python -m tks_lava.train",
        description="Train a spiking network with Temporal Knowledge Sharing (or a baseline "
        "loss) using lava-dl SLAYER, log per-step validation accuracy every epoch, and export "
        "the selected epoch to NetX HDF5 with a model card (test accuracy measured once).",
        epilog=_defaults_help(),
    )
    add = p.add_argument
    add("--dataset", choices=sorted(DATASETS), help="dataset (default ndigits, offline)")
    add("--data-root", help="dataset root (ndigits: where it is generated)")
    add("--download", action="store_true", help="download a missing real dataset (large)")
    add("--cache-dir", help="frame-cache folder (default $TKS_LAVA_CACHE or ~/.cache/tks_lava)")
    add("--method", choices=sorted(LOSSES), help="loss (default tks)")
    add("--model", metavar="NAME", help=f"architecture: {', '.join(sorted(ARCHITECTURES))}")
    add(
        "--arch-file", metavar="JSON", help="your own architecture (ModelConfig JSON: name, layers)"
    )
    add("--timesteps", type=int, help="frames per sample T")
    add("--frame-size", metavar="HxW", help="frame size, e.g. 48x48, or 'native'")
    add("--epochs", type=int)
    add("--batch-size", type=int)
    add("--lr", type=float, help="peak learning rate (AdamW)")
    add("--weight-decay", type=float)
    add("--warmup-epochs", type=int, help="linear warm-up epochs before the cosine decay")
    add("--temperature", type=float, help="TKS temperature tau")
    add("--lam-max", type=float, help="TKS weight at the end of the linear ramp")
    bool_opt = argparse.BooleanOptionalAction
    add("--tks-detach-teacher", action=bool_opt, help="TKS: no gradient through the teacher")
    add("--tks-teacher", choices=TEACHER_REDUCE, help="TKS teacher: sum or mean of correct steps")
    add("--tks-no-teacher", choices=NO_TEACHER, help="TKS sample without a correct step")
    add("--tks-tau2", action=bool_opt, help="TKS: multiply the distillation term by tau^2")
    add("--balanced", action=argparse.BooleanOptionalAction, help="class-balanced sampling")
    add("--val-fraction", type=float, help="share of each class held out from train to select")
    add("--select", choices=SELECT_RULES, help="export the best-validation or the last epoch")
    add("--augment", metavar="OPS", help=f"'none' or a comma list of {', '.join(AUGMENT_OPS)}")
    add("--neuron", choices=sorted(NEURON_PRESETS), help="hidden-neuron preset")
    add("--seed", type=int, help="seeds weights, torch/numpy/random and the data order")
    add("--out-dir", help="run folder (default runs/<dataset>-<method>-<timestamp>)")
    add(
        "--device",
        metavar="DEV",
        help="auto (default: CUDA when available, else cpu), cpu, cuda or cuda:N",
    )
    add(
        "--neuron-kernels",
        choices=NEURON_KERNELS,
        help="CUBA neuron kernels: exact (default; Lava's arithmetic, any device), slayer "
        "(SLAYER's CPU loop, the reference) or slayer-cuda (SLAYER's CUDA build where it builds "
        "for this GPU, else exact). The card's test accuracy is always computed with exact",
    )
    add("--threads", type=int, help="torch CPU threads (default: torch's, recorded in the card)")
    add(
        "--deterministic",
        action=argparse.BooleanOptionalAction,
        help="deterministic torch algorithms and a fixed thread count: the card's command "
        "reproduces the weights bit for bit on the same kind of machine (default: on for cpu, "
        "off for cuda, where torch's per-step cross-entropy has no deterministic version)",
    )
    add("--workers", type=int, help="DataLoader worker processes (default 0)")
    add("--limit-train", type=int, metavar="N", help="train on a fixed random subset of N")
    add("--limit-test", type=int, metavar="N", help="test on a fixed random subset of N")
    add("--resume", metavar="PATH", help="continue a run: its folder or a checkpoint .pt")
    add("--stop-after", type=int, metavar="E", help="stop after E epochs in total (resume later)")
    add("--publish", metavar="NAME", help="also copy the model to <publish-dir>/NAME.{net,pt,json}")
    add("--publish-dir", help="default: netx_models/ at the repository root")
    add("--quiet", action="store_true", help="no progress bars or per-epoch lines")
    return p


def _config_and_state(args: argparse.Namespace) -> tuple[TrainConfig, dict[str, Any] | None]:
    """Resolve the config (from the checkpoint when resuming) and the loaded checkpoint."""
    if args.resume is None:
        return resolve_config(args), None
    state = ckpt.load_checkpoint(args.resume)
    saved = TrainConfig.from_dict(state["config"])
    return resume_config(saved, args, Path(state["path"]).parent), state


def main(argv: list[str] | None = None) -> int:
    """The CLI; SIGTERM unwinds like Ctrl-C (:func:`tks_lava.stopping.run_cli`)."""
    from tks_lava.stopping import run_cli

    return run_cli(lambda: _main(argv), "nothing was trained")


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    if args.stop_after is not None and args.stop_after < 1:
        print(f"error: --stop-after must be >= 1, got {args.stop_after}", file=sys.stderr)
        return 2
    try:
        launch = from_env()  # torchrun's RANK/WORLD_SIZE, or one process alone
        config, state = _config_and_state(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    progress = not args.quiet and sys.stderr.isatty()
    command = "python -m tks_lava.train " + shlex.join(argv)
    try:
        result = train(
            config,
            progress,
            verbose=not args.quiet,
            resume=state,
            stop_after=args.stop_after,
            command=command,
            download=args.download,
        )
    except DATA_ERRORS as err:
        if launch.main:  # every rank sees the same settings and data: one message
            print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        from tks_lava.stopping import exit_status, stop_reason

        if launch.active:  # torchrun stops the other ranks with SIGTERM when one fails
            print(failure_message(err, config.out_dir), file=sys.stderr)
        else:
            why = stop_reason(err)
            print(f"\n{why}; continue with --resume {config.out_dir}", file=sys.stderr)
        return exit_status(err)
    except RuntimeError as err:  # under torchrun: a collective lost a rank (gloo, NCCL)
        if not launch.active:
            raise
        print(failure_message(err, config.out_dir), file=sys.stderr)
        return 1
    if result.finished and launch.main:
        print(
            f"\nexported epoch {result.best_epoch} (--select {config.select}); its test accuracy "
            "on the first t frames:"
        )
        print(format_accuracy_table(result.per_step, result.cumulative))
        print(f"model card: {result.card_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
