"""Which code runs SLAYER's CUBA neurons: exact fast kernels on any device, or SLAYER's own.

* ``exact`` (ours): bit-identical to SLAYER's CPU loop ``leaky_integrator._li_dynamics_fwd`` /
  ``_li_dynamics_bwd`` (the arithmetic Lava reproduces) - compiled with numba on the CPU
  (:mod:`.cuba_numba`), a torch time loop of integer ops on CUDA or any other device
  (:mod:`.cuba_torch`).
* ``slayer``: SLAYER's own Python loop, the reference; CPU only. On a CUDA device SLAYER's own
  neuron is its JIT CUDA kernel, so :func:`resolve_kernels` refuses ``slayer`` there and names
  the two that run on a GPU.
* ``slayer-cuda``: SLAYER's JIT CUDA kernels (:mod:`.slayer_cuda`), built at run time, which
  needs nvcc, ninja and a C++ compiler; fast, but not bit-exact with Lava.

A new :class:`~tks_lava.model.network.SpikingNet` runs SLAYER's own neurons until
:func:`set_neuron_kernels` routes them; the trainer resolves the user's choice for its device
with :func:`resolve_kernels` and prints :func:`describe`.
"""

from __future__ import annotations

import warnings

import torch

# The submodules load lava-dl and numba (seconds): imported where used, so that importing the
# name list (the trainer's config does) stays cheap.

NEURON_KERNELS = ("exact", "slayer", "slayer-cuda")


def _check_name(kernels: str) -> None:
    if kernels not in NEURON_KERNELS:
        raise ValueError(
            f"unknown neuron kernels {kernels!r}; choose one of {', '.join(NEURON_KERNELS)}"
        )


def resolve_kernels(requested: str, device: torch.device | str) -> str:
    """The kernels that will actually run for ``requested`` on ``device``.

    ``slayer-cuda`` stays only where SLAYER's kernels build and run for this GPU (built here, a
    minute the first time); otherwise a warning says why and the answer is ``exact``. ``slayer``
    on a non-CPU device is an error (ValueError): SLAYER's loop is the CPU reference.
    """
    from tks_lava.model.kernels import slayer_cuda

    _check_name(requested)
    device = torch.device(device)
    if requested == "slayer" and device.type != "cpu":
        raise ValueError(
            f"neuron kernels 'slayer' are SLAYER's CPU loop (the reference) and do not run on "
            f"{device}; use 'exact' (bit-identical to it) or 'slayer-cuda' (SLAYER's CUDA kernels)"
        )
    if requested == "slayer-cuda":
        problem = slayer_cuda.build_problem(device)
        if problem:
            warnings.warn(
                f"SLAYER's CUDA kernels cannot be used: {problem}; using the exact kernels",
                RuntimeWarning,
                stacklevel=2,
            )
            return "exact"
    return requested


def set_neuron_kernels(model: torch.nn.Module, kernels: str) -> None:
    """Route every CUBA neuron of ``model`` through ``kernels`` (reversible, any number of times).

    ``exact`` swaps each neuron to the exact integrator; ``slayer`` and ``slayer-cuda`` restore
    SLAYER's own neuron (which runs its CPU loop on CPU tensors, its CUDA kernels on CUDA ones;
    ``slayer-cuda`` also points SLAYER's build at the model's GPU architecture). Resolve the
    choice for the device with :func:`resolve_kernels` first.
    """
    from tks_lava.model.kernels import integrator, slayer_cuda

    _check_name(kernels)
    integrator.route(model, exact=kernels == "exact")
    if kernels == "slayer-cuda":
        param = next(model.parameters(), None)
        if param is not None and param.device.type == "cuda":
            slayer_cuda.configure(param.device)


def describe(kernels: str, device: torch.device | str) -> str:
    """One line for the trainer, e.g. ``cuda:0 (NVIDIA H200), exact CUBA kernels (torch)``."""
    from tks_lava.model.kernels import cuba_numba, integrator, slayer_cuda

    _check_name(kernels)
    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        where = f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    elif device.type == "cpu":
        where = f"cpu ({torch.get_num_threads()} threads)"
    else:
        where = str(device)
    if kernels == "exact":
        how = "numba" if integrator.backend_for(device) == "numba" else "torch"
        if how == "numba":
            how = cuba_numba.version()
        what = f"exact CUBA kernels ({how})"
    elif kernels == "slayer":
        what = "SLAYER's CUBA loop (the reference)"
    else:
        sm = slayer_cuda.arch(device).replace(".", "") if device.type == "cuda" else "?"
        what = f"SLAYER's JIT CUDA kernels (sm_{sm}; not bit-exact with Lava)"
    return f"{where}, {what}"


__all__ = ["NEURON_KERNELS", "describe", "resolve_kernels", "set_neuron_kernels"]
