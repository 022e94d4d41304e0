"""``python -m benchmarks.run``: measure training, data, Lava deployment and early exit.

Examples::

    python -m benchmarks.run                          # everything (make bench), ~18 min
    python -m benchmarks.run --quick                  # tiny sizes: checks that it all runs
    python -m benchmarks.run --only data,lava         # some sections; the others are kept

Each section writes ``<out-dir>/<section>.json``; then ``summary.json`` and ``BENCHMARKS.md``
are rebuilt from every section file in ``<out-dir>`` (sections not run this time are kept from
the earlier run and marked as such).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import render
from benchmarks.report import read_json, write_json, write_text_atomic
from benchmarks.settings import DEFAULT_MARKDOWN, DEFAULT_OUT, Settings

SECTIONS = render.SECTIONS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Benchmarks of tks_lava: training, data, Lava deployment, early exit.",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, ~3-5 min)")
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help="where the JSON files go")
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="BENCHMARKS.md path")
    p.add_argument(
        "--models-dir", type=Path, default=None,
        help="folder with the shipped models NAME.json/.net/.pt (default: netx_models/)",
    )  # fmt: skip
    p.add_argument(
        "--threads", type=int, default=None,
        help="torch CPU threads (default: torch's, one per core; 1 if the machine is busy)",
    )  # fmt: skip
    return p


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_section(name: str, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    if name == "train":
        from benchmarks import bench_train

        return bench_train.run(settings, log)
    if name == "data":
        from benchmarks import bench_data

        return bench_data.run(settings, log)
    if name == "lava":
        from benchmarks import bench_lava

        return bench_lava.run(settings, args.models_dir, log)
    if name == "lava_speed":
        from benchmarks import bench_lava_speed

        return bench_lava_speed.run(settings, args.models_dir, log)
    if name == "lava_exit":
        from benchmarks import bench_lava_exit

        return bench_lava_exit.run(settings, args.models_dir, log)
    if name == "early_exit":
        from benchmarks import bench_early_exit

        return bench_early_exit.run(settings, args.models_dir, args.out_dir / "early_exit.png", log)
    raise ValueError(f"unknown section {name!r}")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown or not args.only:
        print(
            f"error: --only takes sections from {', '.join(SECTIONS)}; got {unknown or 'none'}",
            file=sys.stderr,
        )
        return 2
    import torch

    import tks_lava  # noqa: F401  (Lava Python 3.11 fix before any lava import)
    from benchmarks.machine import choose_threads, machine_info, usable_cores

    threads, why = choose_threads(
        args.threads, os.getloadavg()[0], usable_cores(), torch.get_num_threads()
    )
    torch.set_num_threads(threads)
    settings = Settings.quick_settings() if args.quick else Settings.full()
    machine = machine_info()
    machine["torch_threads_choice"] = why
    command = "python -m benchmarks.run" + (
        " " + shlex.join(sys.argv[1:]) if argv is None and sys.argv[1:] else ""
    )
    log(
        f"benchmarks: {', '.join(args.only)}{' (quick)' if args.quick else ''} -> "
        f"{args.out_dir}; torch threads {threads} ({why})"
    )
    start = time.perf_counter()
    failed = []
    for name in SECTIONS:
        if name not in args.only:
            continue
        log(f"== {name}")
        t0 = time.perf_counter()
        date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        try:
            results = run_section(name, settings, args)
        except Exception:  # one broken section must not lose the others' results
            traceback.print_exc()
            failed.append(name)
            log(f"== {name} FAILED (see the traceback above); its old results are kept")
            continue
        elapsed = time.perf_counter() - t0
        write_json(
            args.out_dir / f"{name}.json",
            {
                "section": name,
                "date": date,
                "run_date": machine["date"],
                "quick": settings.quick,
                "settings": settings.to_dict(),
                "machine": machine,
                "elapsed_s": elapsed,
                "results": results,
            },
        )
        log(f"== {name} done in {elapsed:.0f} s")
    sections = {name: sec for name in SECTIONS if (sec := read_json(args.out_dir / f"{name}.json"))}
    summary = render.build_summary(sections, machine)
    summary["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    summary["total_elapsed_s"] = time.perf_counter() - start
    if settings.quick:
        from benchmarks.estimate import estimate_full_run

        quick = {k: v for k, v in sections.items() if v.get("quick")}
        est = estimate_full_run(quick)
        summary["estimated_full_run_s"] = est
        log(
            "estimated full run (from this quick run's timings, + ~20 s start-up): "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in est.items())
        )
    write_json(args.out_dir / "summary.json", summary)
    write_text_atomic(
        args.markdown, render.render_markdown(sections, summary, command, args.markdown)
    )
    log(f"wrote {args.out_dir / 'summary.json'} and {args.markdown} "
        f"({summary['total_elapsed_s']:.0f} s in all)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
