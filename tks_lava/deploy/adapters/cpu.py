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
    """Records a Var (the readout layer's voltage ``v``) into ``data[..., step - 1]``.

    ``record`` (bool per step, default all) names the steps whose value is wanted: reading a
    Var costs every process in the network an extra management round that step, so steps
    nobody reads (a sample's pipeline flush) are skipped and left at zero.
    """

    def __init__(self, var: Var, num_steps: int, record: np.ndarray | None = None) -> None:
        record = np.ones(num_steps, bool) if record is None else np.asarray(record, bool)
        if record.shape != (num_steps,):
            raise ValueError(f"record needs one flag per step ({num_steps}), got {record.shape}")
        super().__init__(num_steps=num_steps, record=record)
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
        t = self.time_step - 1
        return t < self.data.shape[-1] and bool(self.proc_params["record"][t])

    def run_post_mgmt(self) -> None:
        self.data[..., self.time_step - 1] = self.ref.read()
