"""The ``nir`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import (
    NOT_RUN,
    Page,
    Section,
    fmt_num,
    fmt_pct,
    fmt_yes_no,
    get,
    skipped_lines,
)
from tks_lava.io import markdown_table

KEYS = ("nir_roundtrip_exact", "nir_agreement_snntorch", "nir_agreement_snntorch_min_step")


def _snntorch(models: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        a
        for m in models.values()
        if (a := get(m, "simulators", "snntorch", "agreement_with_lava")) is not None
    ]


def summary(sec: Section | None) -> dict[str, Any]:
    """The round trip (every shipped model: same NetX file, same Lava logits) and snnTorch's
    argmax agreement with Lava over all (sample, step) pairs and at its lowest step (the lower
    of the shipped models)."""
    models = get(sec, "results", "models") or {}
    if not models:
        return dict.fromkeys(KEYS)
    trips = [m["round_trip"] for m in models.values()]
    agree = _snntorch(models)
    return {
        KEYS[0]: all(t["netx_identical"] and t["lava_logits_equal"] for t in trips),
        KEYS[1]: min(a["overall"] for a in agree) if agree else None,
        KEYS[2]: min(a["min_step"] for a in agree) if agree else None,
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``."""
    rows = [
        ("NIR round trip ours -> NIR -> ours: same NetX file, same Lava logits", fmt_yes_no),
        ("snnTorch (NIR import) argmax agreement with Lava, all (sample, step) pairs", fmt_pct),
        ("snnTorch argmax agreement with Lava at its lowest step", fmt_pct),
    ]
    return [
        [label, fmt(summary.get(key)), key] for (label, fmt), key in zip(rows, KEYS, strict=True)
    ]


def _model_rows(models: dict[str, Any]) -> list[list[Any]]:
    rows = []
    for name, m in models.items():
        t, e = m["round_trip"], m["explanation"]
        a = get(m, "simulators", "snntorch", "agreement_with_lava") or {}
        vs_ref = e.get("snntorch_vs_float_reference") or {}
        rows.append(
            [
                name,
                m["samples"],
                f"{t['nodes']} nodes, {t['nir_bytes'] / 1024:.0f} KiB",
                fmt_yes_no(t["netx_identical"]),
                fmt_yes_no(t["lava_logits_equal"]),
                fmt_pct(a.get("overall")),
                fmt_pct(a.get("min_step")),
                fmt_num(vs_ref.get("max_abs_logit_diff")),
                fmt_yes_no(e["fixed_reference_equals_lava"]),
            ]
        )
    return rows


def _step_rows(models: dict[str, Any]) -> list[list[Any]]:
    steps = max(m["timesteps"] for m in models.values())
    rows = []
    for i in range(steps):
        row: list[Any] = [i + 1]
        for m in models.values():
            snn = m["simulators"].get("snntorch", {})
            acc = snn.get("per_step_accuracy") or [None] * steps
            agree = get(snn, "agreement_with_lava", "per_step") or [None] * steps
            row += [fmt_pct(m["lava_per_step_accuracy"][i]), fmt_pct(acc[i]), fmt_pct(agree[i])]
        rows.append(row)
    return rows


def _explanation(models: dict[str, Any]) -> list[str]:
    out = []
    for name, m in models.items():
        e = m["explanation"]
        moved = ", ".join(
            f"{100 * x['spikes_moved']:.3f}% of {x['spikes_lava']:,}"
            for x in e["spikes_float_vs_fixed"]
        )
        decay = e.get("snntorch_decay_error")
        ref = fmt_pct(e["float_reference_vs_lava"]["overall"])
        out.append(
            f"- {name}: float64 reference vs Lava {ref} argmax agreement; spikes moved by "
            f"truncation per hidden layer: {moved}"
            + ("" if decay is None else f"; snnTorch's decay factors off by {decay:.2g}")
        )
    return out


def lines(sec: Section, page: Page | None = None) -> list[str]:
    """The round trip, snnTorch against Lava per step, and the measured reasons."""
    r = sec.get("results") or {}
    models = r.get("models") or {}
    if not models:
        return [*NOT_RUN, *skipped_lines(r.get("skipped"))]
    heads = [
        "model",
        "samples",
        "graph",
        "NetX file identical",
        "Lava logits equal",
        "snnTorch = Lava (argmax, all pairs)",
        "lowest step",
        "snnTorch - float64 reference: max logit diff",
        "fixed-point reference = Lava",
    ]
    step_heads = ["step"] + [f"{n}: {c}" for n in models for c in ("Lava", "snnTorch", "agree")]
    out = [
        f"Each shipped model exported as NIR ({r.get('nir_version')}, dt = {r.get('dt')} s) and "
        "imported back (`exact=True`); both run in Lava on the same samples. snnTorch's "
        "`import_from_nir` runs the same graph in float32.",
        "",
        markdown_table(heads, _model_rows(models)),
        "",
        "Per-step accuracy in Lava and in snnTorch, and their argmax agreement:",
        "",
        markdown_table(step_heads, _step_rows(models)),
        "",
        "Why they differ (measured): snnTorch equals a float64 reference of NIR's Euler "
        "equations (same update order, reset and strict threshold); the same reference in Lava's "
        "integer arithmetic equals Lava. What is left is the fixed point: Lava truncates each "
        "decay product toward zero at 12 fractional bits, which moves a few spikes:",
        "",
        *_explanation(models),
    ]
    for name, why in (r.get("not_tried") or {}).items():
        out.append(f"- not tried: {name}: {why}")
    return out + skipped_lines(r.get("skipped"))
