"""Early exit inside Lava against the fixed-window run: steps, wall time, SynOps, decisions.

Per shipped model, on the test split (``exit_samples``, default all of it):

* the fixed-window run (:func:`tks_lava.deploy.window.run_lava`, T + latency + 2 steps per sample)
  gives the logits of the post-hoc analysis (:func:`tks_lava.metrics.early_exit`);
* one in-Lava early-exit run (:func:`tks_lava.deploy.early_exit.run_lava_exit`) per threshold in
  ``LAVA_THRESHOLDS``: accuracy, mean exit step (and whether every exit step and prediction
  equals the post-hoc one), Lava steps executed, wall time, SynOps per sample until exit.
  The steps a perfect controller needs are ``N * (post-hoc mean exit step + latency + 1)``;
  the table shows the run against that prediction.

Wall-time ratios are paired and repeated (``exit_repeats``) on the first
``exit_timing_samples`` samples of the primary model: fixed window, exit at 0.9, and exit at
1.0 (the same work as the fixed window through the controller), so the speed-up of exiting is
told apart from the controller's own cost. Lava times exclude compile + start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from benchmarks.settings import RunContext, Settings
from benchmarks.shipped_models import load_test_split
from benchmarks.timing import paired_ratios, summarize
from tks_lava.model.shipped import find_shipped

#: thresholds of the in-Lava runs (the issue's); 0.9 is the headline
LAVA_THRESHOLDS = (0.5, 0.7, 0.9, 0.99)
HEADLINE = 0.9


def bench_model(shipped: Any, settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    from tks_lava.deploy.early_exit import run_lava_exit
    from tks_lava.deploy.window import run_lava

    frames, labels = load_test_split(shipped, limit=settings.exit_samples)
    window = run_lava(shipped.net, frames, progress=False)
    log(f"  fixed window: {window.steps} steps in {window.run_s:.1f} s")
    rows = []
    for th in LAVA_THRESHOLDS:
        run = run_lava_exit(shipped.net, frames, th, progress=False)
        row = run.against_window(window.logits, window.run_s, labels)
        rows.append(row)
        log(
            f"  exit > {th}: {row['lava_steps']} steps in {row['run_s']:.1f} s, exit step "
            f"{row['mean_exit_step']:.2f}, as post-hoc: {row['matches_post_hoc']}"
        )
    return {
        "samples": len(labels),
        "timesteps": int(frames.shape[-1]),
        "latency": window.window - int(frames.shape[-1]) - 2,
        "window": {"steps": window.steps, "run_s": window.run_s, "per_sample": window.window},
        "thresholds": rows,
    }


def bench_timing(shipped: Any, settings: Settings, log: Callable[[str], None]) -> dict[str, Any]:
    """Paired, interleaved run times (compile excluded) on the first samples."""
    from tks_lava.deploy.early_exit import run_lava_exit
    from tks_lava.deploy.window import run_lava

    frames, _ = load_test_split(shipped, limit=settings.exit_timing_samples)
    variants: dict[str, Callable[[], Any]] = {
        "window": lambda: run_lava(shipped.net, frames, chunk=len(frames), progress=False),
        f"exit_{HEADLINE}": lambda: run_lava_exit(shipped.net, frames, HEADLINE, progress=False),
        "exit_1.0": lambda: run_lava_exit(shipped.net, frames, 1.0, progress=False),
        f"exit_{HEADLINE}_no_synops": lambda: run_lava_exit(
            shipped.net, frames, HEADLINE, count_synops=False, progress=False
        ),
    }
    run_s: dict[str, list[float]] = {k: [] for k in variants}
    steps: dict[str, int] = {}
    for _ in range(settings.exit_repeats):
        for name, fn in variants.items():
            run = fn()
            run_s[name].append(run.run_s)
            steps[name] = run.steps
    log(
        "  run s (median): "
        + ", ".join(f"{k} {summarize(v)['median']:.1f}" for k, v in run_s.items())
    )
    ratios = {
        k: summarize(paired_ratios(run_s["window"], v)) for k, v in run_s.items() if k != "window"
    }
    return {
        "samples": len(frames),
        "repeats": settings.exit_repeats,
        "run_s": {k: summarize(v) for k, v in run_s.items()},
        "steps": steps,
        "speedup_over_window": ratios,
        "exit_over_full_controller": summarize(
            paired_ratios(run_s["exit_1.0"], run_s[f"exit_{HEADLINE}"])
        ),
    }


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """In-Lava early exit of every shipped model; returns the section's JSON payload."""
    log = ctx.log
    found, skipped = find_shipped(ctx.models_dir)
    out: dict[str, Any] = {"skipped": skipped, "models": {}, "headline": HEADLINE}
    for name, shipped in found.items():
        log(f"lava_exit: {name}, thresholds {LAVA_THRESHOLDS}")
        out["models"][name] = bench_model(shipped, settings, log)
    primary = next(iter(found.values()), None)
    if primary is not None:
        out["timing_model"] = primary.card_path.stem
        log(f"lava_exit: paired timing, {settings.exit_timing_samples} samples")
        out["timing"] = bench_timing(primary, settings, log)
    return out
