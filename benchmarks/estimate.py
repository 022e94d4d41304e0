"""How long the full run would take, extrapolated from a ``--quick`` run's own timings.

The quick run uses the full run's batch sizes, so its seconds per optimizer step carry over;
the other sections scale with the number of samples and repeats. Constant costs (imports,
model loading, cache opening) are taken from the quick run's wall time as they are. Printed
after every quick run; a rough guide (a loaded machine is slower), not a promise.
"""

from __future__ import annotations

from typing import Any

from benchmarks.settings import METHODS, Settings

Section = dict[str, Any]


def _med(stat: dict[str, Any] | None) -> float:
    return float(stat["median"]) if stat and stat.get("median") is not None else 0.0


def train_seconds(results: dict[str, Any], full: Settings) -> float:
    """Per-step seconds of every config x the full run's steps (warm-up + repeats x steps)."""
    total = 0.0
    for key, c in results["configs"].items():
        per_step = sum(_med(c["seconds"][m]) for m in METHODS) / c["steps_per_repeat"]
        if key.endswith("vgg_snn"):
            steps, repeats = full.vgg_steps, full.vgg_repeats
        else:
            steps, repeats = full.train_steps, full.train_repeats
        total += per_step * (1 + steps * repeats)
    return total


def data_seconds(results: dict[str, Any], full: Settings, test_size: int) -> float:
    """One round of every path scaled to the full sample counts, x (1 warm-up + repeats)."""
    n_full = test_size if full.data_samples is None else full.data_samples
    n_quick = results["read_bin"]["samples"]
    scale = {
        "read_bin": n_full / n_quick,
        "bin_only": n_full / n_quick,
        "cache_lazy": n_full / n_quick,
        "ncaltech_bin_only": full.ncaltech_samples / results["ncaltech_bin_only"]["samples"],
    }
    paths = ("read_bin", "bin_only", "cache_open", "cache_read", "cache_bulk", "cache_lazy",
             "ncaltech_bin_only")  # fmt: skip
    one_round = sum(_med(results[p]["seconds"]) * scale.get(p, 1.0) for p in paths)
    return one_round * (1 + full.repeats)


def lava_seconds(results: dict[str, Any], full: Settings) -> float:
    """Per model and repeat: compile + Lava steps at the measured rate + PyTorch, scaled."""
    total = 0.0
    for m in results["models"].values():
        k = full.lava_samples / m["samples"]
        steps = full.lava_samples * m["window"]
        run = _med(m["lava"]["compile_s"]) + steps / max(_med(m["lava"]["steps_per_s"]), 1e-9)
        torch_s = k * sum(_med(m["torch_cpu"][b]["seconds"]) for b in ("batch1", "batch32"))
        total += full.lava_repeats * (run + torch_s)
    return total


def lava_exit_seconds(results: dict[str, Any], full: Settings, test_size: int) -> float:
    """Per-threshold runs scaled by samples, timing repeats scaled by samples and repeats
    (Lava run times only: compile and loading add a few seconds per run)."""
    full_n = test_size if full.exit_samples is None else full.exit_samples
    total = 0.0
    for m in results["models"].values():
        per_sample = (m["window"]["run_s"] + sum(t["run_s"] for t in m["thresholds"])) / m[
            "samples"
        ]
        total += per_sample * full_n
    timing = results.get("timing")
    if timing:
        one_round = sum(_med(v) for v in timing["run_s"].values()) / timing["samples"]
        total += one_round * full.exit_timing_samples * full.exit_repeats
    return total


def estimate_full_run(
    sections: dict[str, Section], full: Settings | None = None, test_size: int = 510
) -> dict[str, float]:
    """Estimated seconds per section (and ``total``) of the full run, from quick sections."""
    full = full or Settings.full()
    out: dict[str, float] = {}
    for name, sec in sections.items():
        r, wall = sec["results"], float(sec.get("elapsed_s") or 0.0)
        if name == "train":
            out[name] = train_seconds(r, full)
        elif name == "data":
            out[name] = data_seconds(r, full, test_size)
        elif name == "lava":
            measured = lava_seconds(r, Settings.quick_settings())
            out[name] = lava_seconds(r, full) + max(wall - measured, 0.0)  # + loading
        elif name == "early_exit":
            n = max((m["samples"] for m in r["models"].values()), default=1)
            full_n = test_size if full.eval_samples is None else full.eval_samples
            out[name] = wall * full_n / n  # generous: loading is counted as scaling too
        elif name == "lava_exit":
            out[name] = lava_exit_seconds(r, full, test_size)
    out["total"] = sum(out.values())
    return out
