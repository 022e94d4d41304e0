"""NIR out and in: the round trip and an independent simulator, on the shipped models.

Per shipped model, on the test split (``Settings.eval_samples``; None = all of it):

* **round trip**: the model exported as a NIR graph (:mod:`tks_lava.nir.export`), imported back
  with ``exact=True`` (:mod:`tks_lava.nir.convert`): are the NetX files equal dataset by
  dataset, and are Lava's logits equal at every (sample, step)? Both networks run in Lava.
* **snnTorch** (``import_from_nir``, the ``[nir]`` extra): per-step accuracy and argmax agreement
  with Lava at every step;
* **why they differ**, measured: snnTorch against a float64 reference of NIR's Euler equations
  (:func:`tks_lava.nir.simulate.reference_logits`; equal means update order, reset, threshold
  and dt are Lava's), the same reference in Lava's integer arithmetic against Lava (equal means
  the graph holds the whole integer network), the spikes the truncation moves per layer, and
  the decay factors snnTorch derives from the graph's time constants.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchmarks.settings import RunContext, Settings
from benchmarks.shipped_models import find_or_log, load_test_split


def _datasets(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h:
        h.visititems(lambda k, v: out.update({k: v[()]}) if isinstance(v, h5py.Dataset) else None)
    return out


def netx_identical(a: Path, b: Path) -> bool:
    """Every dataset of two NetX files equal (names, shapes, values)."""
    x, y = _datasets(a), _datasets(b)
    return x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, Any]:
    """Argmax agreement of two (N, C, T) logit arrays: overall, per step, and the lowest step."""
    per_step = (a.argmax(1) == b.argmax(1)).mean(0)
    return {
        "overall": float((a.argmax(1) == b.argmax(1)).mean()),
        "per_step": per_step.tolist(),
        "min_step": float(per_step.min()),
        "max_abs_logit_diff": float(np.abs(a.astype(np.float64) - b).max()),
    }


def round_trip(shipped: Any, frames: Any, work: Path, log: Any) -> tuple[dict[str, Any], Any]:
    """Export, import back exactly, compare the files and the Lava logits; (results, graph)."""
    import nir

    from tks_lava.deploy.window import run_lava
    from tks_lava.nir.convert import import_nir
    from tks_lava.nir.export import export_nir

    graph_path = export_nir(shipped.card_path, work / f"{shipped.name}.nir")
    card_path, p = import_nir(graph_path, work / "imported", exact=True)
    imported = card_path.with_suffix(".net")
    log(f"nir: {shipped.name}: Lava on {len(frames)} samples, original and imported")
    original = run_lava(shipped.net, frames, progress=False)
    again = run_lava(imported, frames, progress=False)
    out = {
        "nir_bytes": graph_path.stat().st_size,
        "nodes": len(nir.read(str(graph_path)).nodes),
        "report_exact": p.report.exact,
        "netx_identical": netx_identical(shipped.net, imported),
        "lava_logits_equal": bool(np.array_equal(original.logits, again.logits)),
        "lava_run_s": [original.run_s, again.run_s],
    }
    return out, (nir.read(str(graph_path)), original.logits)


def explain(graph: Any, frames: Any, lava: np.ndarray, theirs: np.ndarray | None) -> dict:
    """The measured reasons for any snnTorch / Lava difference (see the module docstring)."""
    from tks_lava.nir.simulate import SNNTORCH_MISSING, reference_logits, snntorch_decays

    fixed, fixed_counts = reference_logits(graph, frames, fixed_point=True)
    ref, float_counts = reference_logits(graph, frames, fixed_point=False)
    layers = []
    for f, q in zip(float_counts, fixed_counts, strict=True):
        layers.append(
            {
                "spikes_lava": int(q.sum()),
                "spikes_moved": float(np.abs(f - q).sum() / max(q.sum(), 1)),
                "pairs_changed": float((f != q).mean()),
            }
        )
    out: dict[str, Any] = {
        "fixed_reference_equals_lava": bool(np.array_equal(fixed, lava)),
        "float_reference_vs_lava": agreement(ref, lava),
        "spikes_float_vs_fixed": layers,
    }
    if theirs is not None and not SNNTORCH_MISSING:
        out["snntorch_vs_float_reference"] = agreement(theirs, ref)
        decays = snntorch_decays(graph)
        meta = [n.metadata for n in graph.nodes.values() if type(n).__name__ == "CubaLIF"]
        exact = (
            [1 - int(m["i_decay"]) / 4096 for m in meta],
            [1 - int(m["v_decay"]) / 4096 for m in meta],
        )
        out["snntorch_decay_error"] = max(
            max(abs(a - e), abs(b - f)) for (a, b), e, f in zip(decays, *exact, strict=True)
        )
    return out


def model_results(shipped: Any, settings: Settings, work: Path, log: Any) -> dict[str, Any]:
    """Round trip, snnTorch and the explanation for one shipped model."""
    from tks_lava import metrics
    from tks_lava.nir.simulate import SNNTORCH_MISSING, snntorch_logits

    frames, labels = load_test_split(shipped, limit=settings.eval_samples)
    trip, (graph, lava) = round_trip(shipped, frames, work, log)
    out: dict[str, Any] = {
        "samples": len(labels),
        "timesteps": int(frames.shape[-1]),
        "round_trip": trip,
        "lava_per_step_accuracy": metrics.per_step_accuracy(lava, labels).tolist(),
        "simulators": {},
    }
    theirs = None
    if SNNTORCH_MISSING:
        out["simulators"]["snntorch"] = {"skipped": SNNTORCH_MISSING}
    else:
        log(f"nir: {shipped.name}: snnTorch on {len(labels)} samples")
        theirs = snntorch_logits(graph, frames)
        out["simulators"]["snntorch"] = {
            "per_step_accuracy": metrics.per_step_accuracy(theirs, labels).tolist(),
            "agreement_with_lava": agreement(theirs, lava),
        }
    out["explanation"] = explain(graph, frames, lava, theirs)
    return out


def run(settings: Settings, ctx: RunContext) -> dict[str, Any]:
    """The section's JSON payload: per shipped model, the round trip and snnTorch vs Lava."""
    import nir

    from tks_lava.nir import params

    found, skipped = find_or_log(ctx, "nir")
    out: dict[str, Any] = {
        "nir_version": nir.version,
        "dt": params.DT,
        "models": {},
        "skipped": skipped,
        "not_tried": {
            "norse": "norse 1.1.0 has no wheel on PyPI (its source only); the project installs "
            "from wheels only, so it is not in the [nir] extra",
        },
    }
    with tempfile.TemporaryDirectory(prefix="bench_nir_") as tmp:
        for name, shipped in found.items():
            out["models"][name] = model_results(shipped, settings, Path(tmp), ctx.log)
    return out
