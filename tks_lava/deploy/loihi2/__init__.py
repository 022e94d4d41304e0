"""Loihi 2 backend: detection and I/O wiring, usable only where Intel's lava-loihi is installed.

The open-source lava-nc has no Loihi 2 process models; ``Loihi2HwCfg``, the NeuroCore models and
the ``lava.proc.embedded_io`` adapters come with Intel's lava-loihi extension (INRC members).
Everything here imports that extension lazily, so the CPU simulator path never needs it.

Wiring follows lava-dl's NetX tutorials: the host-side :class:`~..adapters.SpikeFrameSource`
feeds ``embedded_io.spike.PyToNxAdapter`` into the network's input, and the readout layer's
voltage is read every step through a RefPort (:class:`~tks_lava.deploy.adapters.LogitReadout`).
This path is not exercised by the test suite (no Loihi 2 here); tests marked ``loihi2`` run
only where :func:`is_available` is true.
"""

from __future__ import annotations

from typing import Any


class Loihi2UnavailableError(RuntimeError):
    """Raised when the Loihi 2 backend is requested on a machine without it."""


def is_available() -> bool:
    """True when lava-loihi is installed and reports a reachable Loihi 2 system."""
    try:
        from lava.utils import loihi

        if hasattr(loihi, "is_installed") and not loihi.is_installed():
            return False
    except ImportError:
        pass
    try:
        from lava.utils.system import Loihi2

        Loihi2.preferred_partition = getattr(Loihi2, "preferred_partition", "")
        return bool(Loihi2.is_loihi2_available)
    except Exception:  # lava-nc without the extension, or no partition reachable
        return False


def require() -> None:
    """Raise a clear error unless a Loihi 2 system can be used."""
    if not is_available():
        raise Loihi2UnavailableError(
            "--backend loihi2 needs a Loihi 2 system and Intel's lava-loihi extension "
            "(available to INRC members); neither was found on this machine. "
            "Use the CPU simulator instead: --backend sim (the default)."
        )


def build_io(net: Any, raster: Any, num_steps: int) -> tuple[Any, Any, Any]:
    """(input process, readout process, run config) for ``net`` on Loihi 2."""
    require()
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc import embedded_io as eio

    from tks_lava.deploy.adapters import LogitReadout, SpikeFrameSource

    host_source = SpikeFrameSource(raster)
    to_chip = eio.spike.PyToNxAdapter(shape=net.inp.shape)
    host_source.s_out.connect(to_chip.inp)
    readout = LogitReadout(net.out_layer.neuron.v, num_steps)
    # The caller connects ``source.s_out`` to ``net.inp``: hand it the adapter's side.
    return _Chained(host_source, to_chip), readout, Loihi2HwCfg()


class _Chained:
    """Host source + chip adapter presented as one source with an ``s_out`` port."""

    def __init__(self, host_source: Any, adapter: Any) -> None:
        self.host_source = host_source
        self.s_out = adapter.out


def exit_io(net: Any, controller: Any, model_map: dict) -> Any:
    """Wire an :class:`~..adapters.exit.ExitController` to ``net`` on Loihi 2 and return
    the run config. The controller runs host-side, as the readout of :func:`build_io` does: its
    frames reach the chip through ``PyToNxAdapter``; its RefPorts read the readout voltage and
    write the reset values into the NeuroCores' Vars. The README ("Early exit inside Lava", "On
    Loihi 2") says how the same controller maps onto an embedded (Lakemont) process instead.
    Never run here: there is no Loihi 2 on this project's machines."""
    require()
    from lava.magma.core.run_configs import Loihi2HwCfg
    from lava.proc import embedded_io as eio

    to_chip = eio.spike.PyToNxAdapter(shape=net.inp.shape)
    controller.s_out.connect(to_chip.inp)
    to_chip.out.connect(net.inp)
    return Loihi2HwCfg(exception_proc_model_map=model_map)
