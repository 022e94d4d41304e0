"""``make demo``: offline data -> TKS and baseline models -> Lava, per-step accuracy side by side.

Uses the models shipped in ``netx_models/`` when their cards match their files (the cards record
the exact training command); otherwise, or with ``--retrain``, trains and publishes them first
with :func:`tks_lava.model.shipped.recipe` (about 10 minutes each on 2 cores).
"""

from __future__ import annotations

import argparse
import sys

from tks_lava.model.shipped import SHIPPED, find_shipped, recipe, shipped_models_current


def torch_table() -> str:
    """PyTorch per-step test accuracy recorded in the shipped cards (full test split)."""
    cards = {n: m.card for n, m in find_shipped()[0].items()}
    lines = [
        "PyTorch test accuracy (from the model cards, full test split, prefix: first t frames)",
        "  t | " + " | ".join(f"{n:>24}" for n in cards),
        "    | " + " | ".join(f"{'step':>11} {'mean':>12}" for _ in cards),
    ]
    per = {n: c.torch_accuracy for n, c in cards.items()}
    for i in range(len(next(iter(per.values()))["per_step"])):
        cells = [
            f"{100 * a['per_step'][i]:10.1f}% {100 * a['cumulative'][i]:11.1f}%"
            for a in per.values()
        ]
        lines.append(f"{i + 1:3d} | " + " | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tks_lava.demo", description=__doc__)
    retrain = "train and publish the shipped models even if they are current"
    p.add_argument("--retrain", action="store_true", help=retrain)
    p.add_argument("--limit", type=int, default=100, help="test samples to run in Lava")
    args = p.parse_args(argv)

    if args.retrain or not shipped_models_current():
        from tks_lava.train import main as train_main

        print("Training the shipped TKS and baseline models (netx_models/ is missing or stale)")
        for train_argv in map(recipe, SHIPPED):
            print(f"\n== python -m tks_lava.train {' '.join(train_argv)}")
            if (rc := train_main(train_argv)) != 0:
                return rc
    else:
        print(
            "Shipped models in netx_models/ match their cards: evaluating them "
            "(make demo RETRAIN=1 retrains them)\n"
        )
    print(torch_table())

    from tks_lava.run_netx import main as run_netx_main

    print(f"\nLava (Loihi2SimCfg, fixed point) on {args.limit} test samples, classes round-robin:")
    return run_netx_main(["--compare", "--limit", str(args.limit)])


if __name__ == "__main__":
    sys.exit(main())
