"""The shipped models' test data for the benchmarks (finding and checking the models:
:func:`tks_lava.model.shipped.find_shipped`)."""

from __future__ import annotations

from typing import Any

from tks_lava.model.shipped import ShippedModel, find_shipped


def find_or_log(ctx: Any, section: str) -> tuple[dict[str, ShippedModel], dict[str, str]]:
    """:func:`find_shipped` in ``ctx.models_dir``, logging each model it skips and why."""
    found, skipped = find_shipped(ctx.models_dir)
    for name, why in skipped.items():
        ctx.log(f"{section}: SKIP {name}: {why}")
    return found, skipped


def load_test_split(shipped: ShippedModel, limit: int | None = None) -> tuple[Any, Any]:
    """Test-split frames (N, C, H, W, T) float32 tensor and labels (N,) numpy of a model."""
    from tks_lava.model.evaluation import load_eval_data

    return load_eval_data(shipped.card, split="test", limit=limit, progress=False)
