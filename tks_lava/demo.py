"""``make demo``: offline data -> TKS and baseline models -> Lava, per-step accuracy side by side.

Uses the models shipped in ``netx_models/`` when their cards match their files (the cards record
the exact training command); otherwise, or with ``--retrain``, trains and publishes them first
with :data:`SHIPPED` (about 10 minutes each on 2 cores).
"""

from __future__ import annotations

import argparse
import sys

from tks_lava.export import card_files, default_publish_dir, load_card, verify_card

#: The shipped pair: same data, seed, architecture and budget; only the loss differs.
SHIPPED: dict[str, list[str]] = {
    name: ["--dataset", "ndigits", "--method", method, "--seed", "0",
           "--out-dir", f"runs/ship-ndigits-{method}", "--publish", name]
    for name, method in (("ndigits_tks", "tks"), ("ndigits_baseline", "baseline"))
}  # fmt: skip


def shipped_models_current() -> bool:
    """True when every shipped model has a readable card that matches its .net file."""
    for name in SHIPPED:
        card_path = default_publish_dir() / f"{name}.json"
        try:
            card = load_card(card_path)
            files = card_files(card_path, card)
            verify_card(card, files["net"])
            if not files["weights"].is_file():
                return False
        except (OSError, ValueError):
            return False
    return True


def torch_table() -> str:
    """PyTorch per-step test accuracy recorded in the shipped cards (full test split)."""
    cards = {n: load_card(default_publish_dir() / f"{n}.json") for n in SHIPPED}
    lines = ["PyTorch test accuracy (from the model cards, full test split)",
             "  t | " + " | ".join(f"{n:>24}" for n in cards),
             "    | " + " | ".join(f"{'step':>11} {'mean':>12}" for _ in cards)]  # fmt: skip
    per = {n: c["torch_accuracy"] for n, c in cards.items()}
    for i in range(len(next(iter(per.values()))["per_step"])):
        cells = [f"{100 * a['per_step'][i]:10.1f}% {100 * a['cumulative'][i]:11.1f}%"
                 for a in per.values()]  # fmt: skip
        lines.append(f"{i + 1:3d} | " + " | ".join(cells))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tks_lava.demo", description=__doc__)
    p.add_argument(
        "--retrain", action="store_true", default=False,
        help="train and publish the shipped models even if they are current",
    )  # fmt: skip
    p.add_argument("--limit", type=int, default=100, help="test samples to run in Lava")
    args = p.parse_args(argv)

    if args.retrain or not shipped_models_current():
        from tks_lava.train import main as train_main

        print("Training the shipped TKS and baseline models (netx_models/ is missing or stale)")
        for train_argv in SHIPPED.values():
            print(f"\n== python -m tks_lava.train {' '.join(train_argv)}")
            if (rc := train_main(train_argv)) != 0:
                return rc
    else:
        print("Shipped models in netx_models/ match their cards: evaluating them "
              "(make demo RETRAIN=1 retrains them)\n")  # fmt: skip
    print(torch_table())

    from tks_lava.run_netx import main as run_netx_main

    print(f"\nLava (Loihi2SimCfg, fixed point) on {args.limit} test samples, classes round-robin:")
    return run_netx_main(["--compare", "--limit", str(args.limit)])


if __name__ == "__main__":
    sys.exit(main())
