"""``python -m tks_lava.run_netx``: run published NetX models in Lava, per-step accuracy.

Examples::

    python -m tks_lava.run_netx --t 3                       # shipped TKS model, early exit at 3
    python -m tks_lava.run_netx --compare --limit 200       # TKS vs baseline, same samples
    python -m tks_lava.run_netx --model netx_models/ndigits_baseline.json --exit-threshold 0.9
    python -m tks_lava.run_netx --exit-threshold 0.9 --exit-in-lava  # stop samples in Lava
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

from tks_lava.model.shipped import SHIPPED

COMPARE_DEFAULT = SHIPPED


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tks_lava.run_netx",
        description="Run NetX models in Lava and report per-step (early-exit) accuracy.",
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help="model card (.json), .net with its card beside it, a name in netx_models/, or a "
        "NIR graph (.nir; one from another framework needs --dataset) (default: ndigits_tks); "
        "give twice to compare",
    )
    p.add_argument("--compare", action="store_true", help="compare the shipped TKS and baseline")
    p.add_argument(
        "--models-dir",
        metavar="DIR",
        help="folder of published models NAME.json/.net/.pt that --model NAME reads (default: "
        "$TKS_LAVA_MODELS, else netx_models/ of a clone, else the copy installed with the "
        "package)",
    )
    p.add_argument("--dataset", help="dataset name (default: the model card's)")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--data-root", help="folder with the real dataset")
    p.add_argument("--cache-dir", help="frame cache folder (default ~/.cache/tks_lava)")
    p.add_argument(
        "--t",
        type=int,
        help="prefix protocol: run the first t of the T trained frames (early exit at step t)",
    )
    p.add_argument(
        "--rebin",
        type=int,
        metavar="T'",
        help="re-binned protocol: frame each whole recording into T' frames and run all of them "
        "(the paper's 'tested with T=1'); excludes --t",
    )
    p.add_argument(
        "--exit-threshold",
        type=float,
        help="confidence early exit on the running mean (max softmax > threshold)",
    )
    p.add_argument(
        "--exit-in-lava",
        action="store_true",
        help="also run early exit inside Lava at --exit-threshold: each sample stops when "
        "confident and the next starts at once; reports executed steps, wall time and SynOps "
        "against the fixed-window run",
    )
    p.add_argument("--limit", type=int, help="evaluate the first N samples only")
    p.add_argument("--backend", default="sim", choices=("sim", "loihi2"))
    p.add_argument(
        "--lava-models",
        default="fast",
        choices=("fast", "reference"),
        help="simulator process models: the project's fast bit-exact ones (default) or Lava's "
        "stock ones, to verify",
    )
    p.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="Lava runtimes side by side (default: one per 2 usable cores, at most one per 64 "
        "samples); logits are identical",
    )
    p.add_argument(
        "--recording",
        metavar="PATH",
        help="classify your own .bin recording (or a folder of them) instead of a dataset split: "
        "per-step class probabilities in Lava, parity, and a plot",
    )
    p.add_argument("--top-k", type=int, default=3, help="classes listed per step (--recording)")
    p.add_argument(
        "--plot-dir", default=".", help="where --recording saves <name>_probabilities.png"
    )
    p.add_argument(
        "--allow-small",
        action="store_true",
        help="run a recording that fills less than half of the model's sensor anyway",
    )
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
        + (
            f"{r['timesteps']} of {r['trained_timesteps']} frames (prefix)"
            if r["protocol"] == "prefix"
            else f"each recording re-binned into {r['timesteps']} frame"
            f"{'s' if r['timesteps'] != 1 else ''} (trained with "
            f"{r['trained_timesteps']})"
        ),
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
    if "lava_early_exit" in r:
        x = r["lava_early_exit"]
        same = "identical to" if x["matches_post_hoc"] else "DIFFERENT from"
        lines += [
            f"  early exit inside Lava at > {x['threshold']}: accuracy {100 * x['accuracy']:.1f}%, "
            f"mean exit step {x['mean_exit_step']:.2f} (exits and predictions {same} the "
            "post-hoc analysis)",
            f"    Lava steps {x['lava_steps']} vs {x['window_steps']} in fixed windows "
            f"({100 * x['steps_saved']:.1f}% fewer); wall {x['run_s']:.1f} s vs "
            f"{x['window_run_s']:.1f} s ({x['wall_speedup']:.2f}x)"
            + (
                f"; {x['synops_per_sample']:.3g} SynOps per sample until exit"
                if "synops_per_sample" in x
                else ""
            ),
        ]
    return "\n".join(lines)


def format_recording(r: Any, card: Any, name: str, top_k: int) -> str:
    """Per-step top-k probabilities of one recording, with parity and provenance."""
    lines = [
        f"{r.path.name}: {r.events} events spanning {r.extent[0]}x{r.extent[1]} px; model "
        f"{name} ({card.method}, trained on {card.dataset}); running-mean softmax in Lava:",
    ]
    for t, row in enumerate(r.top_k(top_k), 1):
        lines.append(f"  t={t:<3d} " + " | ".join(f"{c:>6} {p:5.3f}" for c, p in row))
    if r.torch_logits is not None:
        from tks_lava.metrics import argmax_agreement, max_abs_diff

        agree = argmax_agreement(r.lava_logits[None], r.torch_logits[None])
        diff = max_abs_diff(r.lava_logits, r.torch_logits)
        lines.append(
            f"  parity with PyTorch: argmax agreement {100 * agree:.2f}% of "
            f"{r.lava_logits.shape[1]} steps, max |logit diff| {diff:.3g}"
        )
    return "\n".join(lines)


def run_recordings(args: argparse.Namespace, model: str | None) -> None:
    """``--recording``: classify the user's recordings and save one plot each."""
    from tks_lava.data.registry import get_spec
    from tks_lava.deploy.netx_eval import resolve_card_path
    from tks_lava.deploy.recording import classify_recordings, plot_probabilities
    from tks_lava.model.card import ModelCard

    card_path = resolve_card_path(model)
    card = ModelCard.load(card_path)
    results = classify_recordings(
        args.recording,
        card_path,
        models=args.lava_models,
        parity=not args.no_parity,
        allow_small=args.allow_small,
        progress=not args.quiet,
    )
    for r in results:
        print(format_recording(r, card, card_path.stem, args.top_k))
        png = plot_probabilities(r, Path(args.plot_dir) / f"{r.path.stem}_probabilities.png")
        print(f"  plot: {png}")
    if get_spec(card.dataset).generated:
        print(
            f"note: {card_path.stem} was trained on {card.dataset}, emulated offline data; "
            "recordings from a real camera need a model trained on real recordings."
        )


def settings(args: argparse.Namespace) -> tuple[Any, Any]:
    """The :class:`~tks_lava.deploy.netx_eval.Samples` and
    :class:`~tks_lava.deploy.netx_eval.LavaSettings` of the command line (checked)."""
    from tks_lava.deploy.netx_eval import LavaSettings, Samples
    from tks_lava.metrics import check_threshold

    if args.exit_threshold is not None:
        check_threshold(args.exit_threshold, "--exit-threshold")
    if args.exit_in_lava and args.exit_threshold is None:
        raise ValueError("--exit-in-lava needs --exit-threshold (e.g. 0.9)")
    samples = Samples(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Samples)})
    lava = LavaSettings(
        backend=args.backend,
        models=args.lava_models,
        jobs=args.jobs,
        parity=not args.no_parity,
        exit_in_lava=args.exit_threshold if args.exit_in_lava else None,
        progress=not args.quiet,
    )
    return samples, lava


def main(argv: list[str] | None = None) -> int:
    """The CLI; SIGTERM stops every Lava runtime and exits 143 with one line, like Ctrl-C
    (130)."""
    from tks_lava.stopping import run_cli

    return run_cli(lambda: _main(argv), "every Lava runtime was stopped")


def _main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    models = args.model or (list(COMPARE_DEFAULT) if args.compare else [None])
    try:
        if args.models_dir is not None:
            from tks_lava.deploy.netx_eval import resolve_card_path

            models = [resolve_card_path(m, args.models_dir) for m in models]
        if args.recording is not None:
            if args.dataset or args.t or args.rebin or args.compare or len(models) > 1:
                raise ValueError(
                    "--recording runs one model on your files; it excludes "
                    "--dataset, --t, --rebin and --compare"
                )
            run_recordings(args, models[0])
            return 0
        from tks_lava.deploy.netx_eval import evaluate_netx

        samples, lava = settings(args)
        results = []
        for model in models:
            ev = evaluate_netx(model, samples, lava)
            results.append(ev.summary(args.exit_threshold))
    except KeyboardInterrupt as err:
        from tks_lava.stopping import exit_status, stop_reason

        print(f"{stop_reason(err)}; every Lava runtime was stopped", file=sys.stderr)
        return exit_status(err)
    except (ValueError, OSError, RuntimeError) as err:  # one clear line, no Python traceback
        from tks_lava.deploy.session import LavaChildError

        first, _, rest = str(err).partition("\n")
        print(f"error: {first}", file=sys.stderr)
        if isinstance(err, LavaChildError) and rest:
            print(rest, file=sys.stderr)
        return 1 if isinstance(err, LavaChildError) else 2
    print(format_table(results))
    for r in results:
        print(format_report(r))
    if args.out:
        from tks_lava.io import write_json_atomic

        write_json_atomic(args.out, results[0] if len(results) == 1 else {"models": results})
        print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
