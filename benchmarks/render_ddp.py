"""The ``ddp`` section in ``summary.json`` and ``BENCHMARKS.md`` (pure functions of dicts).

Issue #21: ``ddp_gloo_2proc_matches_single`` is true when 2 gloo processes at batch B/2 each end
one epoch with the weights of 1 process at batch B (``allclose``, tolerance in the section file).
"""

from __future__ import annotations

from typing import Any

from benchmarks.formatting import Page, Section, fmt_num, fmt_yes_no, get
from tks_lava.io import markdown_table

RUN_NAMES = {"single": "1 process", "ddp": "2 processes (torchrun, gloo)"}


def summary(sec: Section | None) -> dict[str, Any]:
    """Whether the weights match, by how much they differ, the epoch times, the test logits."""
    r = get(sec, "results") or {}
    runs = r.get("runs") or {}
    return {
        "ddp_gloo_2proc_matches_single": r.get("matches_single"),
        "ddp_max_abs_weight_diff": get(r, "weights", "max_abs_diff"),
        "ddp_test_predictions_match": get(r, "test_logits", "same_predictions"),
        "ddp_epoch_s": {k: get(v, "epoch_s") for k, v in runs.items()} or None,
    }


def figures(summary: dict[str, Any]) -> list[list[str]]:
    """Summary-table row ``[label, value, key]``: do 2 processes train like one."""
    key = "ddp_gloo_2proc_matches_single"
    value = fmt_yes_no(summary.get(key))
    diff = summary.get("ddp_max_abs_weight_diff")
    if diff is not None:
        value += f" (max weight difference {diff:.1e})"
    if summary.get(key) is False:
        value = f"**{value}**"
    return [["2 gloo processes at batch B/2 train like 1 at batch B (1 epoch)", value, key]]


def _run_row(name: str, run: dict[str, Any]) -> list[str]:
    acc = run.get("test_accuracy")
    return [
        RUN_NAMES.get(name, name),
        f"{run['global_batch']} ({run['batch_per_process']} per process)",
        f"{run['epoch_s']:.2f}",
        fmt_num(run["train_samples_per_s"]),
        f"{run['wall_s']:.1f}",
        f"{run['cpu_s']:.1f}",
        f"{run['train_loss']:.6f}",
        "n/a" if not acc else f"{100 * acc[-1]:.2f}%",
        ", ".join(run["cards"]),
    ]


def lines(sec: Section, page: Page | None = None) -> list[str]:
    r = sec["results"]
    s, w, lg = r["sizes"], r["weights"], r["test_logits"]
    heads = [
        "run",
        "global batch",
        "epoch s",
        "train samples/s",
        "command wall s",
        "command CPU s",
        "train loss",
        "test acc (t=T)",
        "JSON written",
    ]
    rows = [_run_row(k, v) for k, v in r["runs"].items()]
    same = "**yes**" if r["matches_single"] else "**no**"
    commands = [f"- `{v['command']}`" for v in r["runs"].values()]
    return [
        f"The real command line, one epoch of {r['dataset']} ({r['model']}, "
        f"`--limit-train {s['limit_train']}`, 10% of it held out for validation, "
        f"`--limit-test {s['limit_test']}`), CPU, one torch thread per process, run one after "
        "the other; `--batch-size` is the global batch, split in two contiguous halves:",
        "",
        *commands,
        "",
        markdown_table(heads, rows),
        "",
        f"Same weights after the epoch: {same}: all {w['tensors']} float tensors "
        f"({w['values']:,} values) `allclose` with atol {w['atol']:g}, rtol {w['rtol']:g} "
        f"(float32 summation order differs: two half-batch gradients averaged); largest "
        f"difference {w['max_abs_diff']:.2e} (in `{w['max_abs_diff_tensor']}`, whose values "
        f"reach {w['max_abs_diff_tensor_scale']:.3f}); bit-identical: "
        f"{fmt_yes_no(w['identical'])}. Test logits "
        f"{lg['shape']}: largest difference {lg.get('max_abs_diff', float('nan')):.2e} (allclose "
        f"at atol {lg.get('atol', 0):g}: {fmt_yes_no(lg['allclose'])}), same predicted class at "
        f"every step: {fmt_yes_no(lg['same_predictions'])}; the cards' test accuracies equal: "
        f"{fmt_yes_no(r['test_accuracy_equal'])}. Epoch times are rank 0's; on a 2-core machine "
        "the two processes share the cores with each other and with other jobs.",
    ]
