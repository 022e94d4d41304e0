"""``python -m tks_lava.data``: prepare a dataset, print a summary, picture a few samples.

Preparing generates or checks the dataset and builds both splits' frame caches."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tks_lava.data.aer import EventFormatError
from tks_lava.data.frames import BINNINGS, CROPS, FrameConfig, parse_frame_size
from tks_lava.data.paths import default_cache_dir
from tks_lava.data.registry import DATASETS, get_spec
from tks_lava.data.spec import DatasetLayoutError, DatasetNotFoundError, DatasetSpec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tks_lava.data",
        description="Prepare an event dataset: generate (ndigits) or check it, build the frame "
        "caches of both splits, print a summary and plot a few samples.",
    )
    p.add_argument("--dataset", default="ndigits", help=f"one of {', '.join(DATASETS)}")
    p.add_argument("--prepare", action="store_true", help="generate/check data, build caches")
    p.add_argument(
        "--data-root",
        type=Path,
        default=None,
        help="data root (real datasets); ndigits: where to generate it",
    )
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"cache folder (default $TKS_LAVA_CACHE or {default_cache_dir()})",
    )
    p.add_argument("--timesteps", type=int, default=None, help="frames per sample T")
    p.add_argument(
        "--frame-size",
        metavar="HxW",
        default=None,
        help="output frame size, e.g. 48x48, or 'native' (default: the dataset's reference)",
    )
    p.add_argument("--binning", choices=BINNINGS, default="time")
    p.add_argument("--crop", choices=CROPS, default=None)
    p.add_argument(
        "--force", action="store_true", help="regenerate ndigits and rebuild the frame caches"
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="download a missing real dataset (prints its size first)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=None,
        help="PNG path (default <cache-dir>/<dataset>_samples.png)",
    )
    p.add_argument("--strict", action="store_true", help="stop on corrupt recordings")
    p.add_argument("--seed", type=int, default=0, help="ndigits generator seed")
    p.add_argument(
        "--ndigits",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a generator parameter (NDigitsParams field), e.g. --ndigits noise_hz=1.0 "
        "--ndigits stroke_range=0.4,1.0 (repeatable)",
    )
    p.add_argument("--workers", type=int, default=None, help="ndigits generator processes")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def generator_params(args: argparse.Namespace, spec: type[DatasetSpec]) -> Any:
    """The generator parameters (``spec.params_type``) from --seed and the --ndigits NAME=VALUE
    overrides, typed like the defaults; None for a recorded dataset."""
    if spec.params_type is None:
        return None
    make = spec.params_type
    fields = {f.name: f for f in dataclasses.fields(make)}
    base = make()
    values: dict = {"seed": args.seed}
    for item in args.ndigits:
        name, sep, text = item.partition("=")
        if not sep or name not in fields:
            raise ValueError(
                f"--ndigits {item!r}: expected NAME=VALUE with NAME one of {', '.join(fields)}"
            )
        default = getattr(base, name)
        if isinstance(default, tuple):
            kind = type(default[0]) if default else int
            values[name] = tuple(kind(v) for v in text.split(","))
        elif default is None or isinstance(default, int) and not isinstance(default, bool):
            values[name] = None if text.lower() == "none" else int(text)
        else:
            values[name] = type(default)(text)
    return make(**values)


def frame_config(args: argparse.Namespace, spec: type[DatasetSpec]) -> FrameConfig:
    ref = spec.default_frames(args.timesteps)
    return FrameConfig(
        timesteps=ref.timesteps,
        size=parse_frame_size(args.frame_size) if args.frame_size else ref.size,
        binning=args.binning,
        crop=args.crop or ref.crop,
    )


def _mb(path: Path) -> float:
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6
    return path.stat().st_size / 1e6


def prepare(args: argparse.Namespace) -> int:
    from tks_lava.data.plot import plot_samples
    from tks_lava.data.torch_data import FrameDataset

    spec = get_spec(args.dataset)
    cache_dir = args.cache_dir or default_cache_dir()
    progress = not args.no_progress
    params = generator_params(args, spec)
    t0 = time.perf_counter()
    root = spec.prepare(
        args.data_root,
        download=args.download,
        progress=progress,
        params=params,
        force=args.force,
        workers=args.workers,
        cache_dir=cache_dir,
    )
    base = spec.locate(root)
    print(f"data: {base} ({time.perf_counter() - t0:.1f} s, {_mb(base):.1f} MB on disk)")
    frames = frame_config(args, spec)
    sets = {}
    for split in ("train", "test"):
        t1 = time.perf_counter()
        ds = FrameDataset(
            spec.name,
            split,
            frames,
            root=root,
            cache_dir=cache_dir,
            strict=args.strict,
            progress=progress,
            params=params,
            rebuild=args.force,
        )
        dt = time.perf_counter() - t1
        sets[split] = ds
        how = "opened" if ds.cache_hit else "built"
        print(
            f"{split}: frame cache {how} in {dt:.1f} s: {ds.cache_path} "
            f"({_mb(ds.cache_path):.1f} MB)"
        )
    print_summary(spec, sets)
    plot_path = args.plot or cache_dir / f"{spec.name}_samples.png"
    plot_samples(sets["train"], plot_path)
    print(f"plot: {plot_path}")
    return 0


def print_summary(spec: type[DatasetSpec], sets: dict) -> None:
    train = sets["train"]
    w, h, p = spec.sensor_size
    names = " ".join(train.classes) if train.num_classes <= 20 else f"{train.classes[:5]} ..."
    print(f"\n{spec.name}: {train.num_classes} classes ({names})")
    print(
        f"sensor: {w} x {h} px (W x H), {p} polarities; frames (C, H, W, T) = "
        f"{train.input_shape + (train.timesteps,)}, {train.frame_config}"
    )
    print(f"split rule: {spec.split_rule}")
    print(
        f"{'split':<6} {'samples':>8} {'per class min/max':>18} "
        f"{'events/sample min / median / max':>34} {'skipped':>8}"
    )
    for split, ds in sets.items():
        cc = ds.class_counts()
        ev = ds.n_events
        print(
            f"{split:<6} {len(ds):>8} {f'{cc.min()}/{cc.max()}':>18} "
            f"{f'{ev.min()} / {int(np.median(ev))} / {ev.max()}':>34} {len(ds.skipped):>8}"
        )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        spec = get_spec(args.dataset)
        if not args.prepare:
            print(spec.describe())
            print(f"layout:\n{spec.layout}\nhow to get it:\n{spec.how_to_get}")
            print("(add --prepare to generate/check the data and build the frame caches)")
            return 0
        return prepare(args)
    except (DatasetNotFoundError, DatasetLayoutError, EventFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
