"""What a run writes as it goes: ``metrics.jsonl``/``metrics.csv`` and the lines it prints."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from tks_lava.io import write_bytes_atomic


def write_metrics(out_dir: Path, history: list[dict[str, Any]]) -> None:
    """(Re)write ``metrics.jsonl`` and ``metrics.csv`` from the whole history, atomically."""
    jsonl = "".join(json.dumps(row) + "\n" for row in history)
    write_bytes_atomic(out_dir / "metrics.jsonl", jsonl.encode())
    rows = [_flat_row(r) for r in history]
    fields: list[str] = []
    for r in rows:
        fields += [k for k in r if k not in fields]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_bytes_atomic(out_dir / "metrics.csv", buf.getvalue().encode())


def _flat_row(row: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in row.items() if not isinstance(v, list)}
    for t, v in enumerate(row.get("val_per_step", []), 1):
        flat[f"val_step{t}"] = v
    for t, v in enumerate(row.get("val_cumulative", []), 1):
        flat[f"val_cum{t}"] = v
    return flat


def format_accuracy_table(per_step: list[float], cumulative: list[float]) -> str:
    """Text table: step t, accuracy of step t alone, accuracy of the mean of steps 1..t."""
    lines = [f"{'t':>3}  {'per-step':>9}  {'running-mean':>12}"]
    lines += [
        f"{t:>3}  {p:>9.4f}  {c:>12.4f}"
        for t, (p, c) in enumerate(zip(per_step, cumulative, strict=True), 1)
    ]
    return "\n".join(lines)


def epoch_line(row: dict[str, Any], epochs: int) -> str:
    parts = f" (ce {row['train_ce']:.3f}, tks {row['train_tks']:.3f})" if "train_ce" in row else ""
    val = (
        f"val acc {row['val_acc']:.3f} (t=1 alone {row['val_per_step'][0]:.3f})  "
        if "val_acc" in row
        else ""
    )
    return (
        f"epoch {row['epoch']}/{epochs}  loss {row['train_loss']:.4f}{parts}  "
        f"train acc {row['train_acc']:.3f}  {val}lr {row['lr']:.2e}  lam {row['lam']:.3f}  "
        f"{row['epoch_s']:.1f} s ({row['samples_per_s']:.0f} samples/s)"
    )
