"""``python -m tks_lava.run_netx``: run published NetX models in Lava, per-step accuracy.

Examples::

    python -m tks_lava.run_netx --t 3                       # shipped TKS model, early exit at 3
    python -m tks_lava.run_netx --compare --limit 200       # TKS vs baseline, same samples
    python -m tks_lava.run_netx --model netx_models/ndigits_baseline.json --exit-threshold 0.9
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from tks_lava.shipped import SHIPPED

COMPARE_DEFAULT = SHIPPED


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tks_lava.run_netx",
        description="Run NetX models in Lava and report per-step (early-exit) accuracy.",
    )
    p.add_argument(
        "--model", action="append", default=None,
        help="model card (.json), .net with its card beside it, or a name in netx_models/ "
        "(default: ndigits_tks); give twice to compare",
    )  # fmt: skip
    p.add_argument("--compare", action="store_true", help="compare the shipped TKS and baseline")
    p.add_argument("--dataset", help="dataset name (default: the model card's)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--data-root", help="folder with the real dataset")
    p.add_argument("--cache-dir", help="frame cache folder (default ~/.cache/tks_lava)")
    p.add_argument("--t", type=int, help="timesteps to run: early exit at a fixed step")
    p.add_argument(
        "--exit-threshold", type=float,
        help="confidence early exit on the running mean (max softmax > threshold)",
    )  # fmt: skip
    p.add_argument("--limit", type=int, help="evaluate the first N samples only")
    p.add_argument("--backend", default="sim", choices=("sim", "loihi2"))
    p.add_argument(
        "--lava-models", default="fast", choices=("fast", "reference"),
        help="simulator process models: the project's fast bit-exact ones (default) or Lava's "
        "stock ones, to verify",
    )  # fmt: skip
    p.add_argument(
        "--jobs", type=int, metavar="N",
        help="Lava runtimes side by side (default: one per 2 usable cores, at most one per 64 "
        "samples); logits are identical",
    )  # fmt: skip
    p.add_argument("--no-parity", action="store_true", help="skip the PyTorch parity check")
    p.add_argument("--out", help="write results as JSON here")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def format_table(results: list[dict[str, Any]]) -> str:
    """Per-step accuracy table, one column pair (step / running mean) per model."""
    names = [r["model"] for r in results]
    head = "  t | " + " | ".join(f"{n[:22]:>22}" for n in names)
    sub = "    | " + " | ".join(f"{'step':>10} {'mean':>11}" for _ in names)
    lines = [head, sub, "-" * len(head)]
    for i in range(max(r["timesteps"] for r in results)):
        cells = []
        for r in results:
            if i < r["timesteps"]:
                step, cum = r["per_step_accuracy"][i], r["cumulative_accuracy"][i]
                cells.append(f"{100 * step:9.1f}% {100 * cum:10.1f}%")
            else:
                cells.append(" " * 22)
        lines.append(f"{i + 1:3d} | " + " | ".join(cells))
    return "\n".join(lines)


def format_report(r: dict[str, Any]) -> str:
    lines = [
        f"{r['model']} ({r['method']}, {r['dataset']}, {r['backend']}): {r['n_samples']} samples, "
        f"{r['timesteps']} of {r['trained_timesteps']} steps",
        f"  accuracy at t={r['timesteps']}: {100 * r['accuracy_at_t']:.1f}%  "
        f"(Lava {r['lava_models']} models x{r['jobs']}: {r['steps_per_s']:.1f} steps/s, "
        f"{r['samples_per_s']:.2f} samples/s, compile {r['lava_compile_s']:.1f} s, "
        f"wall {r['wall_s']:.1f} s)",
    ]
    if "torch_agreement" in r:
        a = r["torch_agreement"]
        lines.append(
            f"  parity with PyTorch: argmax agreement {100 * a['argmax_agreement']:.2f}% of "
            f"{a['n_pairs']} (sample, step) pairs, max |logit diff| {a['max_abs_logit_diff']:.3g}"
        )
    if "early_exit" in r:
        e = r["early_exit"]
        lines.append(
            f"  early exit at confidence > {e['threshold']}: accuracy {100 * e['accuracy']:.1f}% "
            f"with {e['mean_steps']:.2f} steps on average"
        )
    return "\n".join(lines)


def write_json_atomic(path: str | Path, payload: Any) -> None:
    from tks_lava.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = args.model or (list(COMPARE_DEFAULT) if args.compare else [None])
    try:
        if args.exit_threshold is not None and not 0 <= args.exit_threshold <= 1:
            raise ValueError(f"--exit-threshold must be in [0, 1], got {args.exit_threshold}")
        if args.jobs is not None and args.jobs < 1:
            raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
        from tks_lava.netx_eval import evaluate_netx

        results = []
        for model in models:
            ev = evaluate_netx(
                model, t=args.t, dataset=args.dataset, split=args.split, limit=args.limit,
                data_root=args.data_root, cache_dir=args.cache_dir, backend=args.backend,
                models=args.lava_models, jobs=args.jobs, parity=not args.no_parity,
                progress=not args.quiet,
            )  # fmt: skip
            results.append(ev.summary(args.exit_threshold))
    except KeyboardInterrupt:
        print("interrupted; every Lava runtime was stopped", file=sys.stderr)
        return 130
    except (ValueError, OSError, RuntimeError) as err:  # one clear line, no Python traceback
        from tks_lava.lava_session import LavaChildError

        first, _, rest = str(err).partition("\n")
        print(f"error: {first}", file=sys.stderr)
        if isinstance(err, LavaChildError) and rest:
            print(rest, file=sys.stderr)
        return 1 if isinstance(err, LavaChildError) else 2
    print(format_table(results))
    for r in results:
        print(format_report(r))
    if args.out:
        write_json_atomic(args.out, results[0] if len(results) == 1 else {"models": results})
        print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
