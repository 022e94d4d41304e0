"""The ``lava`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts)."""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_stat, get, median, skipped_lines
from tks_lava.io import markdown_table
from tks_lava.model.shipped import SHIPPED

HEADERS = [
    "model",
    "samples x repeats",
    "Lava compile + start (s)",
    "Lava steps/s",
    "Lava samples/s",
    "PyTorch b1 samples/s",
    "PyTorch b32 samples/s",
    "Lava == PyTorch logits",
]


def primary_model(models: dict[str, Any]) -> str | None:
    """The model whose deployment figures go into the summary: the first shipped one present."""
    for name in SHIPPED:
        if name in models:
            return name
    return next(iter(models), None)


def summary(sec: Section | None) -> dict[str, Any]:
    """Lava and PyTorch CPU speed of the primary shipped model (medians)."""
    models = get(sec, "results", "models") or {}
    name = primary_model(models)
    m = models.get(name, {}) if name else {}
    return {
        "lava_model": name,
        "lava_steps_per_s": median(m, "lava", "steps_per_s"),
        "lava_samples_per_s": median(m, "lava", "samples_per_s"),
        "lava_compile_s": median(m, "lava", "compile_s"),
        "slayer_cpu_samples_per_s_batch1": median(m, "torch_cpu", "batch1", "samples_per_s"),
        "slayer_cpu_samples_per_s_batch32": median(m, "torch_cpu", "batch32", "samples_per_s"),
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table rows ``[label, value, key]``: Lava and PyTorch speed."""
    model = summary.get("lava_model") or "no shipped model"
    labels = {
        "lava_steps_per_s": f"Lava sim steps/s ({model})",
        "lava_samples_per_s": f"Lava sim samples/s ({model})",
        "lava_compile_s": "Lava compile + start-up (s)",
        "slayer_cpu_samples_per_s_batch1": "SLAYER PyTorch CPU samples/s, batch 1",
        "slayer_cpu_samples_per_s_batch32": "SLAYER PyTorch CPU samples/s, batch 32",
    }
    return [[label, fmt_num(summary.get(key)), key] for key, label in labels.items()]


def _row(name: str, m: dict[str, Any]) -> list[str]:
    lava, b1, b32 = m["lava"], m["torch_cpu"]["batch1"], m["torch_cpu"]["batch32"]
    parity = m["parity_with_torch"]
    same = (
        "yes"
        if parity.get("bit_identical")
        else (f"no (max diff {parity.get('max_abs_logit_diff')})")
    )
    other_batch = f" (batch {b32['batch']})" if b32["batch"] != 32 else ""
    return [
        f"{name} ({m['model']}, T={m['timesteps']}, window {m['window']} steps)",
        f"{m['samples']} x {m['repeats']}",
        fmt_stat(lava["compile_s"]),
        fmt_stat(lava["steps_per_s"]),
        fmt_stat(lava["samples_per_s"]),
        fmt_stat(b1["samples_per_s"]),
        fmt_stat(b32["samples_per_s"]) + other_batch,
        same,
    ]


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    lines = [
        f"Backend: {r['backend']}; PyTorch: `torch.no_grad`, {r['torch_threads']} thread(s). "
        "Lava's steps/s and samples/s exclude compile + start-up, reported apart. Each repeat "
        "runs Lava, then PyTorch batch 1, then batch 32, on the same samples.",
        "",
    ]
    if r["models"]:
        lines.append(markdown_table(HEADERS, [_row(n, m) for n, m in r["models"].items()]))
        for name, m in r["models"].items():
            sp = m["torch_over_lava_speed"]
            lines += [
                "",
                f"{name}: PyTorch on the CPU is {fmt_stat(sp['batch1'])}x (batch 1) and "
                f"{fmt_stat(sp['batch32'])}x (batch 32) faster than the Lava simulation "
                "(paired per repeat).",
            ]
    return lines + skipped_lines(r.get("skipped"))
