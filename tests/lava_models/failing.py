"""A pass-through Lava process whose CPU model raises at a chosen time step."""

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

MESSAGE = "deliberate failure from a Lava child process"


class FailAt(AbstractProcess):
    """Forwards its input; raises ``ValueError(MESSAGE)`` at time step ``fail_at``."""

    def __init__(self, shape: tuple[int, ...], fail_at: int) -> None:
        super().__init__(shape=shape, fail_at=fail_at)
        self.a_in = InPort(shape=shape)
        self.s_out = OutPort(shape=shape)
        self.fail_at = Var(shape=(1,), init=fail_at)


@implements(proc=FailAt, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyFailAtModel(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    fail_at: np.ndarray = LavaPyType(np.ndarray, np.int32)

    def run_spk(self) -> None:
        x = self.a_in.recv()
        if self.time_step == int(self.fail_at[0]):
            raise ValueError(f"{MESSAGE} at step {self.time_step}")
        self.s_out.send(x)
