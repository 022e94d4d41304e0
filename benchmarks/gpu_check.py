"""GPU check (issue #21): exact kernels on CUDA, training speed per kernel path, and the CLI paths.

Steps, each independent (a failure is recorded with its traceback and the others still run;
the JSON is rewritten atomically after every step, so a run cut short keeps what it measured):

* ``environment``: versions, the GPU, nvcc;
* ``kernel_parity``: the exact integrator on the device (torch loop) against the CPU (numba) and
  SLAYER's own CPU loop, forward and input gradient, bit for bit (random, tie and large cases);
* ``model_parity``: vgg_snn with the exact kernels on the device against the CPU: logits and
  every block's output bit for bit, parameter gradients to ``gpu_torch.GRAD_RTOL``;
* ``train_speed``: vgg_snn training steps (TKS loss, AdamW) per kernel path and batch, samples/s;
* ``data``: the offline dataset (generated on first use);
* ``train_export_lava``: ``python -m tks_lava.train`` on the device, export, then
  ``python -m tks_lava.run_netx`` in Lava on the CPU with its PyTorch parity check;
* ``torchrun``: the trainer under ``torchrun --nproc-per-node 1`` and a NCCL all-reduce;
* ``no_toolkit``: nvcc hidden (PATH, CUDA_HOME): ``slayer-cuda`` falls back to exact, a model
  trains and exports on the device, and the trainer runs.

``python -m benchmarks.gpu_check`` on a CUDA machine (< 8 min on one H200) writes
``benchmarks/results/gpu.json``; ``--dry-run`` runs the same plumbing on the CPU at tiny sizes.
benchmarks/README.md's last section has the command for the lent GPU machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks.gpu_torch import Plan, environment, kernel_parity, model_parity, train_speed
from benchmarks.settings import DEFAULT_OUT, REPO
from tks_lava.io import write_json_atomic


def _python(args: list[str], timeout: int, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``python args`` in the repository; its exit code, seconds and output tail."""
    env = {**(env or os.environ), "PYTHONUNBUFFERED": "1"}
    t0 = time.perf_counter()
    command = [sys.executable, *args]
    try:
        done = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
        code, out = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as err:
        code, out = "timeout", f"{err.stdout or ''}{err.stderr or ''}"
        out = out if isinstance(out, str) else out.decode(errors="replace")
    lines = [ln for ln in out.splitlines() if ln.strip()]
    return {
        "command": "python " + " ".join(args),
        "returncode": code,
        "seconds": round(time.perf_counter() - t0, 2),
        "output_head": lines[:3],
        "output_tail": lines[-15:],
    }


def data(plan: Plan) -> dict[str, Any]:
    """The offline dataset: generated and framed on first use (what the trainer reads)."""
    run = _python(["-m", "tks_lava.data", "--dataset", "ndigits", "--prepare"], plan.timeout)
    return {**run, "ok": run["returncode"] == 0}


def train_export_lava(plan: Plan, work: Path) -> dict[str, Any]:
    """Train on the device, publish (export), run the card in Lava on the CPU with parity."""
    args = ["-m", "tks_lava.train", "--dataset", "ndigits", "--model", plan.train_model]
    args += ["--device", plan.device, "--epochs", "1", *plan.train_args, "--quiet"]
    args += ["--out-dir", str(work / "run"), "--publish", "gpu_check"]
    args += ["--publish-dir", str(work / "pub")]
    out: dict[str, Any] = {"train": _python(args, plan.timeout)}
    card_path = work / "pub" / "gpu_check.json"
    if out["train"]["returncode"] != 0 or not card_path.is_file():
        return {**out, "ok": False}
    card = json.loads(card_path.read_text())
    out["card_test_accuracy"] = {k: v for k, v in card.items() if "acc" in k.lower()}
    lava_json = work / "lava.json"
    lava = ["-m", "tks_lava.run_netx", "--model", str(card_path), *plan.lava_args]
    out["lava"] = _python([*lava, "--quiet", "--out", str(lava_json)], plan.timeout)
    if lava_json.is_file():
        out["torch_agreement"] = json.loads(lava_json.read_text()).get("torch_agreement")
    agreement = out.get("torch_agreement") or {}
    out["ok"] = out["lava"]["returncode"] == 0 and agreement.get("max_abs_logit_diff") == 0.0
    return out


_COLLECTIVE = (
    "import os, torch, torch.distributed as dist\n"
    "dev = os.environ['CHECK_DEVICE']\n"
    "dist.init_process_group('nccl' if dev.startswith('cuda') else 'gloo')\n"
    "t = torch.ones(4, device=dev) * 3\n"
    "dist.all_reduce(t)\n"
    "print('all_reduce', dist.get_backend(), t.tolist())\n"
    "dist.destroy_process_group()\n"
)


def torchrun(plan: Plan, work: Path) -> dict[str, Any]:
    """The trainer under torchrun (one process) and one collective on the device's backend."""
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1"]
    args = [*launch, "-m", "tks_lava.train", "--dataset", "ndigits", "--model", plan.dist_model]
    args += ["--device", plan.device, "--epochs", "1", *plan.train_args, "--quiet"]
    args += ["--out-dir", str(work / "dist")]
    out = {"train": _python(args, plan.timeout)}
    script = work / "collective.py"
    script.write_text(_COLLECTIVE)
    env = {**os.environ, "CHECK_DEVICE": plan.device}
    out["collective"] = _python([*launch, str(script)], plan.timeout, env)
    out["ok"] = all(r["returncode"] == 0 for r in out.values())
    return out


_NO_TOOLKIT = (
    "import json, sys, warnings, torch\n"
    "from tks_lava.model.kernels import resolve_kernels, set_neuron_kernels, slayer_cuda\n"
    "from tks_lava.model.network import build_model, make_config\n"
    "dev = torch.device(sys.argv[1])\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    kernels = resolve_kernels('slayer-cuda', dev)\n"
    "model = build_model(make_config('tiny_snn', (2, 8, 8), 4)).to(dev)\n"
    "set_neuron_kernels(model, kernels)\n"
    "model((torch.rand(2, 2, 8, 8, 5, device=dev) < 0.5).float()).sum().backward()\n"
    "model.export_hdf5(sys.argv[2])\n"
    "print(json.dumps({'resolved': kernels, 'problem': slayer_cuda.toolkit_problem(dev),\n"
    "                  'warnings': [str(w.message) for w in caught]}))\n"
)


def no_toolkit(plan: Plan, work: Path) -> dict[str, Any]:
    """nvcc hidden: slayer-cuda falls back to exact; a model trains and exports; the CLI runs."""
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if not Path(p, "nvcc").exists()
    )
    env = {**os.environ, "PATH": path, "CUDA_HOME": "/nonexistent-cuda", "CUDA_PATH": ""}
    script = work / "no_toolkit.py"
    script.write_text(_NO_TOOLKIT)
    probe = _python([str(script), plan.device, str(work / "tiny.net")], plan.timeout, env)
    out: dict[str, Any] = {"probe": probe}
    try:
        out["result"] = json.loads(probe["output_tail"][-1])
    except (IndexError, json.JSONDecodeError):
        out["result"] = None
    args = ["-m", "tks_lava.train", "--dataset", "ndigits", "--model", "tiny_snn"]
    args += ["--device", plan.device, "--neuron-kernels", "slayer-cuda", "--epochs", "1"]
    args += ["--limit-train", "64", "--limit-test", "32", "--quiet", "--out-dir", str(work / "nt")]
    out["train"] = _python(args, plan.timeout, env)
    result = out["result"] or {}
    out["ok"] = result.get("resolved") == "exact" and out["train"]["returncode"] == 0
    return out


def run_steps(plan: Plan, out_path: Path, only: list[str] | None = None) -> dict[str, Any]:
    """Every step in turn, each caught and recorded; the JSON rewritten after each one."""
    report: dict[str, Any] = {"plan": asdict(plan), "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    report["steps"] = {}
    with tempfile.TemporaryDirectory(prefix="tks-gpu-check-") as tmp:
        work = Path(tmp)
        steps = {
            "environment": lambda: environment(plan),
            "kernel_parity": lambda: kernel_parity(plan),
            "model_parity": lambda: model_parity(plan),
            "train_speed": lambda: train_speed(plan),
            "data": lambda: data(plan),
            "train_export_lava": lambda: train_export_lava(plan, work),
            "torchrun": lambda: torchrun(plan, work),
            "no_toolkit": lambda: no_toolkit(plan, work),
        }
        for name, step in steps.items():
            if only and name not in only:
                continue
            t0 = time.perf_counter()
            print(f"gpu_check: {name} ...", flush=True)
            try:
                result = step()
            except Exception as err:  # a failed step is recorded; the others still run
                tail = traceback.format_exc().strip().splitlines()[-12:]
                result = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback": tail}
            result["seconds"] = round(time.perf_counter() - t0, 2)
            report["steps"][name] = result
            print(f"gpu_check: {name}: ok={result.get('ok')} ({result['seconds']} s)", flush=True)
            report["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S")
            write_json_atomic(out_path, report)
    return report


#: what travels to the GPU machine as wheels (its image has torch, numpy, scipy, numba, ...)
WHEELS = (
    "lava-nc==0.10.0",
    "lava-dl==0.6.0",
    "tonic==1.7.0",
    "asteval==1.0.6",  # lava-nc's; not in the image
    "networkx==2.8.7",  # lava-nc's pin (the image has networkx 3)
    "importRosbag==1.0.4",  # tonic's import-time need
)
#: wheel members the check never uses: lava-dl ships 150 MB of tests and trained YOLO weights
SLIM_PREFIXES = ("tests/",)
SLIM_SUFFIXES = (".pt",)


def _unused(member: str) -> bool:
    return member.startswith(SLIM_PREFIXES) or member.endswith(SLIM_SUFFIXES)


def slim_wheel(path: Path) -> int:
    """Rewrite ``path`` without the members :func:`_unused` names (and their RECORD lines);
    returns the bytes saved. The GPU machine's upload is limited to 64 MiB."""
    import zipfile

    before = path.stat().st_size
    tmp = path.with_suffix(".slim")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            if _unused(item.filename):
                continue
            data = src.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                rows = data.decode().splitlines()
                data = ("\n".join(r for r in rows if not _unused(r.split(",")[0])) + "\n").encode()
            dst.writestr(item, data)
    tmp.replace(path)
    return before - path.stat().st_size


def prepare_wheels(folder: Path) -> None:
    """Download :data:`WHEELS` for CPython 3.12 on x86-64, slim them, and build this project's."""
    folder.mkdir(parents=True, exist_ok=True)
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--ignore-requires-python"]
    cmd += ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
    cmd += [arg for p in platforms for arg in ("--platform", p)]
    subprocess.run([*cmd, "-d", str(folder), *WHEELS], check=True)
    for old in folder.glob("tks_lava-*.whl"):
        old.unlink()
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(folder), str(REPO)]
    subprocess.run(build, check=True)
    for wheel in sorted(folder.glob("*.whl")):
        saved = slim_wheel(wheel) if wheel.name.startswith(("lava_dl", "lava_nc")) else 0
        print(
            f"{wheel.name}: {wheel.stat().st_size / 2**20:.1f} MiB (slimmed by {saved >> 20} MiB)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__)
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes (plumbing only)")
    parser.add_argument("--out", type=Path, help="JSON report (default results/gpu.json)")
    parser.add_argument("--only", nargs="+", metavar="STEP", help="run only these steps")
    parser.add_argument(
        "--prepare-wheels",
        type=Path,
        metavar="DIR",
        help="download and slim the wheels the GPU machine needs, then exit",
    )
    args = parser.parse_args(argv)
    if args.prepare_wheels:
        prepare_wheels(args.prepare_wheels)
        return 0
    plan = Plan.dry_run() if args.dry_run else Plan()
    default = "gpu-dry-run.json" if args.dry_run else "gpu.json"
    out = args.out or DEFAULT_OUT / default
    report = run_steps(plan, out, args.only)
    failed = [name for name, step in report["steps"].items() if not step.get("ok")]
    print(f"gpu_check: wrote {out}; " + (f"failed: {', '.join(failed)}" if failed else "all ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
