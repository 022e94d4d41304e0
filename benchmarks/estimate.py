"""How long the full run would take, extrapolated from a ``--quick`` run's own timings.

The quick run uses the full run's batch sizes, so its seconds per optimizer step carry over;
the other sections scale with the number of samples and repeats. Constant costs (imports,
model loading, cache opening) are taken from the quick run's wall time as they are. Printed
after every quick run; a rough guide (a loaded machine is slower), not a promise.

Every estimator takes ``(section, full settings, test-split size)`` and returns seconds; the
section table (:data:`benchmarks.sections.SECTIONS`) says which section uses which.
"""

from __future__ import annotations

from benchmarks.formatting import Section
from benchmarks.settings import METHODS, Settings

#: the data paths of the ``data`` section, timed once per round
DATA_PATHS = (
    "read_bin",
    "bin_only",
    "cache_open",
    "cache_read",
    "cache_bulk",
    "cache_lazy",
    "ncaltech_bin_only",
)


def _med(stat: dict | None) -> float:
    return float(stat["median"]) if stat and stat.get("median") is not None else 0.0


def train_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """Per-step seconds of every config x the full run's steps (warm-up + repeats x steps)."""
    total = 0.0
    for key, c in sec["results"]["configs"].items():
        per_step = sum(_med(c["seconds"][m]) for m in METHODS) / c["steps_per_repeat"]
        if key.endswith("vgg_snn"):
            steps, repeats = full.vgg_steps, full.vgg_repeats
        else:
            steps, repeats = full.train_steps, full.train_repeats
        total += per_step * (1 + steps * repeats)
    return total


def data_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """One round of every path scaled to the full sample counts, x (1 warm-up + repeats)."""
    r = sec["results"]
    n_full = test_size if full.data_samples is None else full.data_samples
    n_quick = r["read_bin"]["samples"]
    scale = {
        "read_bin": n_full / n_quick,
        "bin_only": n_full / n_quick,
        "cache_lazy": n_full / n_quick,
        "ncaltech_bin_only": full.ncaltech_samples / r["ncaltech_bin_only"]["samples"],
    }
    one_round = sum(_med(r[p]["seconds"]) * scale.get(p, 1.0) for p in DATA_PATHS)
    return one_round * (1 + full.repeats)


def _lava_run_seconds(results: dict, settings: Settings) -> float:
    """Per model and repeat: compile + Lava steps at the measured rate + PyTorch, scaled."""
    total = 0.0
    for m in results["models"].values():
        k = settings.lava_samples / m["samples"]
        steps = settings.lava_samples * m["window"]
        run = _med(m["lava"]["compile_s"]) + steps / max(_med(m["lava"]["steps_per_s"]), 1e-9)
        torch_s = k * sum(_med(m["torch_cpu"][b]["seconds"]) for b in ("batch1", "batch32"))
        total += settings.lava_repeats * (run + torch_s)
    return total


def lava_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """The measured runs scaled to the full sizes, plus what the quick run spent beside them
    (loading models and data) as it is."""
    r, wall = sec["results"], float(sec.get("elapsed_s") or 0.0)
    measured = _lava_run_seconds(r, Settings.quick_settings())
    return _lava_run_seconds(r, full) + max(wall - measured, 0.0)


def early_exit_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """The quick run's wall time scaled by samples (generous: loading scales too)."""
    r, wall = sec["results"], float(sec.get("elapsed_s") or 0.0)
    n = max((m["samples"] for m in r["models"].values()), default=1)
    full_n = test_size if full.eval_samples is None else full.eval_samples
    return wall * full_n / n


def lava_exit_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """Per-threshold runs scaled by samples, timing repeats scaled by samples and repeats
    (Lava run times only: compile and loading add a few seconds per run)."""
    r = sec["results"]
    full_n = test_size if full.exit_samples is None else full.exit_samples
    total = 0.0
    for m in r["models"].values():
        run_s = m["window"]["run_s"] + sum(t["run_s"] for t in m["thresholds"])
        total += run_s / m["samples"] * full_n
    timing = r.get("timing")
    if timing:
        one_round = sum(_med(v) for v in timing["run_s"].values()) / timing["samples"]
        total += one_round * full.exit_timing_samples * full.exit_repeats
    return total


def _extra(sec: Section, measured: float) -> float:
    """What the quick run spent beside its timed work (imports, models, data), as it is."""
    return max(float(sec.get("elapsed_s") or 0.0) - measured, 0.0)


def _kernels_timed(r: dict, repeats: int, vgg_repeats: int) -> float:
    """Timed work of the kernels section: one untimed call + repeats of every variant."""
    neuron = sum(_med(s) for s in r["neuron"]["wall_s"].values()) * (1 + repeats)
    steps = [r["train_step"], r.get("ncaltech_step") or {"wall_s": {}}]
    step = sum(_med(s) for x in steps for s in x["wall_s"].values()) * (1 + vgg_repeats)
    compile_s = sum(v for v in (r.get("compile") or {}).values() if isinstance(v, int | float))
    return neuron + step + compile_s


def kernels_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """Each variant's median time x the full run's calls, plus the quick run's other costs."""
    r, quick = sec["results"], Settings.quick_settings()
    measured = _kernels_timed(r, quick.repeats, quick.vgg_repeats)
    return _kernels_timed(r, full.repeats, full.vgg_repeats) + _extra(sec, measured)


def feed_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """Every loader's first epoch and timed epochs, scaled to the full run's samples."""
    r = sec["results"]
    total = measured = 0.0
    for lo in r["loaders"].values():
        n_full = test_size if full.data_samples is None else min(full.data_samples, test_size)
        epoch = _med(lo["seconds"])
        measured += lo["first_epoch_s"] + epoch * r["repeats"]
        total += (lo["first_epoch_s"] + epoch * full.repeats) * n_full / lo["samples"]
    return total + _extra(sec, measured)


def ddp_seconds(sec: Section, full: Settings, test_size: int) -> float:
    """Both commands: start-up as measured, the epoch scaled by the training samples."""
    from benchmarks.bench_ddp import FULL

    r = sec["results"]
    scale = FULL.limit_train / r["sizes"]["limit_train"]
    return sum(
        run["wall_s"] - run["epoch_s"] + run["epoch_s"] * scale for run in r["runs"].values()
    )
