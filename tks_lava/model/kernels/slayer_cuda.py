"""SLAYER's own JIT-compiled CUDA kernels: whether they can build here, and for which GPU.

lava-dl compiles ``leaky_integrator.cu`` with ``torch.utils.cpp_extension.load`` the first time a
CUDA tensor reaches a neuron: that needs nvcc of torch's CUDA major version, ninja and a C++
compiler at run time. Its ``jitconfig`` sets ``TORCH_CUDA_ARCH_LIST = '8.0'`` on every GPU of
compute capability 8 or more, code that sm_90 GPUs (H100, H200) cannot run, so :func:`configure`
sets the device's own architecture before the first build. These kernels are not bit-exact with
Lava (int32 state, fire at ``v >= int(threshold)``); the exact kernels are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import torch

_built: dict[str, str] = {}  # device -> "" (built and ran) or why not


def arch(device: torch.device) -> str:
    """``TORCH_CUDA_ARCH_LIST`` entry of ``device``'s compute capability, e.g. "9.0"."""
    major, minor = torch.cuda.get_device_capability(device)
    return f"{major}.{minor}"


def configure(device: torch.device) -> str:
    """Make SLAYER build its kernels for ``device``'s architecture; returns that architecture."""
    from lava.lib.dl.slayer import jitconfig

    jitconfig.TORCH_CUDA_ARCH_LIST = arch(device)
    return jitconfig.TORCH_CUDA_ARCH_LIST


def _nvcc_release(nvcc: str) -> str:
    """``nvcc --version``'s release, e.g. "13.0" ("" if it does not say)."""
    try:
        text = subprocess.run(
            [nvcc, "--version"], capture_output=True, text=True, timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    found = re.search(r"release (\d+\.\d+)", text)
    return found.group(1) if found else ""


def toolkit_problem(device: torch.device | str) -> str:
    """Why SLAYER's CUDA kernels cannot be built for ``device`` ("" when nothing is missing)."""
    device = torch.device(device)
    if device.type != "cuda":
        return f"they run on CUDA devices only, not on {device}"
    if not torch.cuda.is_available() or torch.version.cuda is None:
        return "this torch sees no CUDA device"
    from torch.utils import cpp_extension

    home = cpp_extension.CUDA_HOME
    nvcc = os.path.join(home, "bin", "nvcc") if home else ""
    if not nvcc or not os.path.exists(nvcc):
        return "no CUDA toolkit: nvcc is not on PATH nor under CUDA_HOME"
    release = _nvcc_release(nvcc)
    if release.split(".")[0] != torch.version.cuda.split(".")[0]:
        return f"nvcc {release or '?'} ({nvcc}) does not match torch's CUDA {torch.version.cuda}"
    if not cpp_extension.is_ninja_available():
        return "ninja is not installed (pip install ninja)"
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        return "no C++ compiler (c++) for the host code"
    return ""


def build_problem(device: torch.device | str) -> str:
    """Build SLAYER's neuron kernel for ``device`` and run it once; why that failed, or "".

    The first build takes a minute or so (cached under ``~/.cache/torch_extensions``); the answer
    is remembered per device for this process.
    """
    device = torch.device(device)
    key = str(device)
    if key not in _built:
        problem = toolkit_problem(device)
        if not problem:
            problem = _try_build(device)
        _built[key] = problem
    return _built[key]


def _try_build(device: torch.device) -> str:
    from lava.lib.dl.slayer.neuron import cuba

    sm = configure(device)
    try:
        neuron = cuba.Neuron(threshold=1.25, current_decay=0.25, voltage_decay=0.03).to(device)
        spikes = neuron(torch.rand(2, 3, 8, device=device) * 4)
        torch.cuda.synchronize(device)
    except Exception as err:  # a build or a launch error of any kind is the answer
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"building or running them for sm_{sm.replace('.', '')} failed ({first})"
    if not torch.isfinite(spikes).all():
        return f"they built for sm_{sm.replace('.', '')} but returned non-finite values"
    return ""
