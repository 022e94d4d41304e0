"""``python -m tks_lava.nir``: export a model as a NIR graph, or import a NIR graph for Lava.

Examples::

    python -m tks_lava.nir export ndigits_tks /tmp/tks.nir       # a shipped name or a card path
    python -m tks_lava.nir check /tmp/tks.nir                    # the mapping, nothing written
    python -m tks_lava.nir import other.nir out/ --dataset ndigits
    python -m tks_lava.run_netx --model /tmp/tks.nir --t 3        # run a NIR graph in Lava
"""

from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tks_lava.nir",
        description="NIR out and in: write a trained model as a NIR graph, or turn a NIR graph "
        "into a NetX model (card + .net + .pt) that run_netx runs in Lava.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("export", help="write MODEL (card path or shipped name) as a NIR file")
    ex.add_argument("model", help="model card (.json), .net beside its card, or a shipped name")
    ex.add_argument("out", help="the .nir file to write")
    ex.add_argument("--dt", type=float, default=None, help="seconds per step (default 1e-4)")
    im = sub.add_parser("import", help="convert a NIR file into NAME.net/.pt/.json in OUT_DIR")
    im.add_argument("graph", help="the .nir file")
    im.add_argument("out_dir", help="folder for NAME.net, NAME.pt, NAME.json")
    im.add_argument(
        "--dataset",
        help="the data it classifies (needed unless the graph was exported by tks_lava)",
    )
    im.add_argument("--name", help="file stem (default: the .nir file's)")
    for q in (im, sub.add_parser("check", help="print how a NIR file maps; write nothing")):
        q.add_argument(
            "--dt",
            type=float,
            default=None,
            help="seconds per step (default: the graph's metadata, else 1e-4)",
        )
        q.add_argument(
            "--exact",
            action="store_true",
            help="refuse any parameter that is not already on Loihi's grids",
        )
    sub.choices["check"].add_argument("graph", help="the .nir file")
    return p


def describe(graph_path: str, dt: float | None, exact: bool) -> str:
    """The blocks a NIR file maps to and the quantisation report."""
    from tks_lava.nir.convert import graph_dt, plan_graph, read_graph
    from tks_lava.nir.graph import read_layers

    graph = read_graph(graph_path)
    step = graph_dt(graph, dt)
    lines = [f"{graph_path}: dt = {step:g} s per step"]
    for layer in read_layers(graph, step):
        nodes = " + ".join(layer.nodes) or "(added)"
        lines.append(f"  {layer.kind:8s} {nodes:28s} {layer.in_shape} -> {layer.out_shape}")
    lines.append(plan_graph(graph, dt, exact).report.text())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "export":
            from tks_lava.nir import params
            from tks_lava.nir.export import export_nir

            out = export_nir(args.model, args.out, params.DT if args.dt is None else args.dt)
            print(f"wrote {out}")
            print(describe(str(out), None, False))
        elif args.command == "check":
            print(describe(args.graph, args.dt, args.exact))
        else:
            from tks_lava.nir.convert import import_nir

            card, plan = import_nir(
                args.graph,
                args.out_dir,
                dataset=args.dataset,
                dt=args.dt,
                exact=args.exact,
                name=args.name,
            )
            print(
                f"wrote {card} (+ .net, .pt); run it with "
                f"python -m tks_lava.run_netx --model {card}"
            )
            print(plan.report.text())
    except (ValueError, OSError, ImportError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
