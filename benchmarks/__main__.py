"""``python -m benchmarks``: measure training, data, Lava deployment and early exit.

Examples::

    python -m benchmarks                          # everything (make bench), ~18 min on 2 cores
    python -m benchmarks --quick                  # tiny sizes: checks that it all runs
    python -m benchmarks --only data,lava         # some sections; the others are kept
    python -m benchmarks --render-only            # rebuild summary.json + BENCHMARKS.md only

Each section (:data:`benchmarks.sections.SECTIONS`) writes ``<out-dir>/<section>.json``; then
``summary.json`` and ``BENCHMARKS.md`` are rebuilt from every section file in ``<out-dir>``
(sections not run this time are kept from the earlier run and marked as such).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from benchmarks import render
from benchmarks.formatting import Section
from benchmarks.sections import SECTIONS
from benchmarks.settings import DEFAULT_MARKDOWN, DEFAULT_OUT, RunContext, Settings
from tks_lava.io import to_jsonable, write_json_atomic, write_text_atomic

PROG = "python -m benchmarks"
#: ndigits test split: the samples the full run's early-exit sections use
TEST_SIZE = 510
#: keys of summary.json about the run itself (not derived from the section files)
RUN_KEYS = ("load_average_at_end", "total_elapsed_s", "estimated_full_run_s", "command")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Benchmarks of tks_lava: training, data, Lava deployment, early exit.",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run, ~3-5 min)")
    p.add_argument(
        "--only",
        type=lambda s: [x.strip() for x in s.split(",") if x.strip()],
        default=list(SECTIONS),
        help=f"comma-separated sections to run (default: all of {','.join(SECTIONS)})",
    )
    p.add_argument(
        "--render-only",
        action="store_true",
        help="run nothing: rebuild summary.json and the Markdown from the section files (the "
        "machine and command of the last run are kept from summary.json)",
    )
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT, help="where the JSON files go")
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="BENCHMARKS.md path")
    p.add_argument(
        "--models-dir",
        type=Path,
        default=None,
        help="folder with the shipped models NAME.json/.net/.pt (default: netx_models/)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's, one per core; 1 if the machine is busy)",
    )
    return p


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def read_json(path: Path) -> Any | None:
    """The JSON in ``path``, or None if the file is missing or unreadable."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def read_sections(out_dir: Path) -> dict[str, Section]:
    """Every section file in ``out_dir``, in the table's order."""
    return {name: sec for name in SECTIONS if (sec := read_json(out_dir / f"{name}.json"))}


def render_results(
    out_dir: Path, markdown: Path, machine: dict[str, Any], run: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """``summary.json``'s payload and the Markdown from the section files in ``out_dir``
    (nothing is written); ``run`` holds the :data:`RUN_KEYS` of the run (``command`` at least)."""
    sections = read_sections(out_dir)
    summary = render.build_summary(sections, machine)
    summary.update({k: run[k] for k in RUN_KEYS if k in run})
    text = render.render_markdown(sections, summary, run["command"], markdown, out_dir)
    return to_jsonable(summary), text


def rebuild(out_dir: Path, markdown: Path, machine: dict[str, Any], run: dict[str, Any]) -> None:
    """Write ``summary.json`` and the Markdown (:func:`render_results`)."""
    summary, text = render_results(out_dir, markdown, machine, run)
    write_json_atomic(out_dir / "summary.json", summary)
    write_text_atomic(markdown, text)


def render_only(out_dir: Path, markdown: Path) -> int:
    """Rebuild the summary and Markdown with the machine and command of the last run."""
    last = read_json(out_dir / "summary.json")
    if not last or "machine" not in last:
        print(
            f"error: no summary.json with a machine in {out_dir}: run the benchmarks first "
            f"({PROG} --only SECTION)",
            file=sys.stderr,
        )
        return 2
    rebuild(out_dir, markdown, last["machine"], {"command": PROG, **last})
    log(f"rebuilt {out_dir / 'summary.json'} and {markdown} from the section files")
    return 0


def run_section(name: str, settings: Settings, ctx: RunContext, machine: dict) -> bool:
    """Run one section and write its file; False (old file kept) if it raised."""
    ctx.log(f"== {name}")
    t0 = time.perf_counter()
    date = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    try:
        results = importlib.import_module(SECTIONS[name].bench).run(settings, ctx)
    except Exception:  # one broken section must not lose the others' results
        traceback.print_exc()
        ctx.log(f"== {name} FAILED (see the traceback above); its old results are kept")
        return False
    elapsed = time.perf_counter() - t0
    section = {
        "section": name,
        "date": date,
        "run_date": machine["date"],
        "quick": settings.quick,
        "settings": settings.to_dict(),
        "machine": machine,
        "elapsed_s": elapsed,
        "results": results,
    }
    write_json_atomic(ctx.out_dir / f"{name}.json", to_jsonable(section))
    ctx.log(f"== {name} done in {elapsed:.0f} s")
    return True


def estimate_full_run(quick: dict[str, Section], full: Settings | None = None) -> dict[str, float]:
    """Estimated seconds per section (and ``total``) of the full run, from quick sections
    (:mod:`benchmarks.estimate`; sections without an estimator are left out)."""
    full = full or Settings.full()
    out = {
        name: fn(sec, full, TEST_SIZE)
        for name, sec in quick.items()
        if (fn := SECTIONS[name].estimate) is not None
    }
    out["total"] = sum(out.values())
    return out


def setup(args: argparse.Namespace) -> tuple[Settings, dict[str, Any]]:
    """torch threads, the sizes and the machine description of this run."""
    import torch

    import tks_lava  # noqa: F401  (Lava Python 3.11 fix before any lava import)
    from benchmarks.machine import choose_threads, machine_info, usable_cores

    threads, why = choose_threads(
        args.threads, os.getloadavg()[0], usable_cores(), torch.get_num_threads()
    )
    torch.set_num_threads(threads)
    machine = machine_info()
    machine["torch_threads_choice"] = why
    return Settings.quick_settings() if args.quick else Settings.full(), machine


def main(argv: list[str] | None = None) -> int:
    """The benchmarks; Ctrl-C or SIGTERM stops the running section (and its Lava runtimes)
    and exits 130 / 143 with one line; the sections finished before are kept."""
    from tks_lava.stopping import run_cli

    after = f"finished sections are kept; {PROG} --render-only rebuilds the Markdown"
    return run_cli(lambda: _main(argv), after)


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    unknown = [s for s in args.only if s not in SECTIONS]
    if unknown or not args.only:
        print(
            f"error: --only takes sections from {', '.join(SECTIONS)}; got {unknown or 'none'}",
            file=sys.stderr,
        )
        return 2
    if args.render_only:
        return render_only(args.out_dir, args.markdown)
    settings, machine = setup(args)
    start = time.perf_counter()
    argv_text = sys.argv[1:] if argv is None else argv
    run: dict[str, Any] = {"command": shlex.join([*PROG.split(), *argv_text])}
    log(
        f"benchmarks: {', '.join(args.only)}{' (quick)' if args.quick else ''} -> "
        f"{args.out_dir}; torch threads {machine['torch_threads']} "
        f"({machine['torch_threads_choice']})"
    )
    ctx = RunContext(out_dir=args.out_dir, models_dir=args.models_dir, log=log)
    failed = [n for n in SECTIONS if n in args.only and not run_section(n, settings, ctx, machine)]
    run["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    run["total_elapsed_s"] = time.perf_counter() - start
    if settings.quick:
        quick = {k: v for k, v in read_sections(args.out_dir).items() if v.get("quick")}
        run["estimated_full_run_s"] = est = estimate_full_run(quick)
        log(
            "estimated full run (from this quick run's timings, + ~20 s start-up): "
            + ", ".join(f"{k} {v / 60:.1f} min" for k, v in est.items())
        )
    rebuild(args.out_dir, args.markdown, machine, run)
    log(
        f"wrote {args.out_dir / 'summary.json'} and {args.markdown} "
        f"({run['total_elapsed_s']:.0f} s in all)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
