"""``python -m tks_lava.study`` (``make study``): train the grid, evaluate, test, report.

Resumable: finished runs are skipped, interrupted ones continue from their last epoch. The
report covers every arm whose seeds have all finished; ``--report-only`` trains nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from tks_lava.study.grid import GRIDS, SEEDS, arms
from tks_lava.study.jobs import is_evaluated, run_dir

REPO = Path(__file__).resolve().parents[2]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tks_lava.study", description=__doc__)
    p.add_argument(
        "--grid",
        action="append",
        choices=sorted(GRIDS),
        help="grids to train (repeatable; default: main)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="runs at a time, one torch thread each (default: all cores)",
    )
    p.add_argument("--root", default="runs/study", help="run folders")
    p.add_argument("--data-root", help="ndigits folder (default: generated in the cache)")
    p.add_argument("--out-json", default=str(REPO / "benchmarks/results/study.json"))
    p.add_argument("--out-md", default=str(REPO / "STUDY.md"))
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing; evaluate and report the runs that are done",
    )
    return p


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


#: The code that decides what a run computes (compared across the runs' training commits).
TRAINING_CODE = ("tks_lava/training", "tks_lava/data", "tks_lava/model")


def training_code_changes(commits: list[str]) -> list[str] | None:
    """Files of :data:`TRAINING_CODE` that differ between the runs' commits (``+dirty`` cut);
    None when git cannot tell (no checkout, an unknown commit)."""
    shas = sorted({c.split("+")[0] for c in commits})
    changed: set[str] = set()
    for sha in shas[1:]:
        try:
            out = subprocess.run(
                ["git", "diff", "--name-only", shas[0], sha, "--", *TRAINING_CODE],
                cwd=REPO,
                check=True,
                capture_output=True,
                text=True,
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        changed.update(out.stdout.split())
    return sorted(changed)


def main(argv: list[str] | None = None) -> int:
    """The study; Ctrl-C or SIGTERM stops every worker and exits 130 / 143 with one line
    (finished runs are kept, an interrupted one resumes from its last epoch)."""
    from tks_lava.stopping import run_cli

    args = build_parser().parse_args(argv)
    return run_cli(lambda: _main(args), "finished runs are kept; run it again to resume")


def _main(args: argparse.Namespace) -> int:
    grids = args.grid or ["main"]
    seeds = tuple(args.seeds)
    root = Path(args.root)
    wanted = arms(grids)
    from tks_lava.study.jobs import evaluate_all, run_study

    if not args.report_only:
        run_study(root, wanted, seeds, args.jobs, data_root=args.data_root)
    every = arms(list(GRIDS))
    evaluate_all(root, every, seeds, args.data_root)  # runs trained elsewhere or interrupted
    ready = [a for a in every if all(is_evaluated(run_dir(root, a, s)) for s in seeds)]
    missing = [a.name for a in wanted if a not in ready]
    if missing:
        print(f"not reported (runs unfinished): {', '.join(missing)}", file=sys.stderr)
    main_arms = [a for a in ready if a in arms(["main"])]
    if len(main_arms) < 2:
        print("error: the main grid has not finished; nothing to report", file=sys.stderr)
        return 2
    extra = [a for a in ready if a not in main_arms]
    report(root, main_arms, extra, seeds, args)
    return 0


def report(root: Path, main_arms, extra, seeds, args) -> None:  # noqa: ANN001
    from tks_lava.io import write_json_atomic
    from tks_lava.model.card import ModelCard
    from tks_lava.provenance import cpu_model
    from tks_lava.study.analysis import analyse
    from tks_lava.study.report import figures, write_markdown
    from tks_lava.study.report_ablation import load_previous

    study = analyse(root, main_arms, extra, seeds)
    card = ModelCard.load(run_dir(root, main_arms[0], seeds[0]) / "model_card.json")
    h, val = card.hyperparameters, card.selection["val"]
    walls = [r["wall_s"] or 0 for a in study["arms"].values() for r in a["runs"]]
    study.update(
        created=time.strftime("%Y-%m-%d"),
        commit=_commit(),
        n_test=card.torch_accuracy["n"],
        selection=f"best validation accuracy (running mean at t=10) on a {val['n']}-sample "
        f"split carved from train ({100 * val['fraction']:.0f}% per class, whole source "
        f"images, seed {val['seed']})",
        budget=f"{card.model_config.name}, {h['epochs']} epochs, batch {h['batch_size']}, AdamW "
        f"lr {h['lr']}, cosine with {h['warmup_epochs']} warm-up epoch, TKS lam ramp to lam_max",
        jobs=args.jobs,
        machine=f"{os.cpu_count()} cores, {cpu_model()}",
        wall_hours=sum(walls) / 3600 / max(1, args.jobs),
        previous=load_previous(Path(args.out_json).parent),
        training_code_changed=training_code_changes(study["training_commits"]),
    )
    out_json = Path(args.out_json)
    write_json_atomic(out_json, study)
    paths = figures(study, out_json.parent)
    write_markdown(Path(args.out_md), study, paths)
    print(f"wrote {args.out_md}, {out_json} and {len(paths)} figures")


if __name__ == "__main__":
    sys.exit(main())
