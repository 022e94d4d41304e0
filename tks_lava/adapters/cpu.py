"""CPU adapters between numpy and a NetX network running in Lava's simulator.

* :class:`SpikeFrameSource` plays a precomputed binary spike raster ``(X, Y, C, steps)`` into
  the network, one column per step (the input adapter).
* :class:`LogitReadout` reads the readout layer's membrane voltage every step through a
  ``RefPort`` and keeps it in a ``(classes, steps)`` buffer (the output adapter). The readout
  neuron never spikes (its threshold is the maximum), so the voltage *is* the logit, in
  fixed-point units: ``logit = v / VOLTAGE_SCALE``.
"""

from __future__ import annotations

import numpy as np

# No explicit `import tks_lava` needed: importing this package already applied the Lava fix.
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

#: SLAYER CUBA voltage in Lava fixed point is the float value times 2**12 (p_scale).
VOLTAGE_SCALE = 4096


class SpikeFrameSource(AbstractProcess):
    """Sends ``raster[..., t - 1]`` at step t (binary spikes); zeros after the raster ends."""

    def __init__(self, raster: np.ndarray) -> None:
        raster = np.asarray(raster)
        if raster.ndim < 2:
            raise ValueError(f"raster must be (*shape, steps), got shape {raster.shape}")
        super().__init__(raster=raster)
        self.data = Var(shape=raster.shape, init=raster.astype(np.int8))
        self.s_out = OutPort(shape=raster.shape[:-1])


@implements(proc=SpikeFrameSource, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PySpikeFrameSourceModel(PyLoihiProcessModel):
    data: np.ndarray = LavaPyType(np.ndarray, np.int8)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)

    def run_spk(self) -> None:
        t = self.time_step - 1
        if t < self.data.shape[-1]:
            self.s_out.send(self.data[..., t].astype(np.int32))
        else:
            self.s_out.send(np.zeros(self.data.shape[:-1], dtype=np.int32))


class LogitReadout(AbstractProcess):
    """Records a Var (the readout layer's voltage ``v``) at every step into ``data``."""

    def __init__(self, var: Var, num_steps: int) -> None:
        super().__init__(num_steps=num_steps)
        self.ref = RefPort(var.shape)
        self.ref.connect_var(var)
        self.data = Var(shape=var.shape + (num_steps,), init=np.zeros(var.shape + (num_steps,)))


@implements(proc=LogitReadout, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt", "floating_pt")
class PyLogitReadoutModel(PyLoihiProcessModel):
    ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
    data: np.ndarray = LavaPyType(np.ndarray, np.int64)

    def post_guard(self) -> bool:
        return True

    def run_post_mgmt(self) -> None:
        t = self.time_step - 1
        if t < self.data.shape[-1]:
            self.data[..., t] = self.ref.read()
