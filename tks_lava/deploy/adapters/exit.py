"""Early exit inside Lava: one process that plays the samples, reads the logits and resets.

:class:`ExitController` sits beside the network as its input adapter, output adapter and
scheduler at once. Every step it sends the current sample's next frame (zeros once the T frames
are played) and, on steps whose readout voltage is a logit, reads that voltage through a
``RefPort``. After each logit it applies the post-hoc early-exit rule
(:func:`tks_lava.metrics.should_exit`: running-mean softmax max > threshold, or the last step).
When the sample exits it writes every state Var of the network (neuron ``u``/``v``, synapse
one-step buffers) back to its initial value in the same management phase, so the next step
starts the next sample on a network identical to a freshly built one: no flush window, no
leak. Spikes still in flight are discarded with the state they live in.

Optional spike taps (``InPort`` s fed by the neurons' ``s_out``) count the synaptic operations
the simulation actually executed for each sample (spikes into each synapse process x its
fan-out, :mod:`tks_lava.metrics.synops`).

The process's ports depend on the network (one RefPort per state Var, one InPort per tap), so
its process model is a class made per controller (:func:`controller_model`) and selected
through ``exception_proc_model_map``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort, PyRefPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort, RefPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from tks_lava.deploy.adapters.cpu import VOLTAGE_SCALE
from tks_lava.metrics import check_threshold, should_exit


class ExitController(AbstractProcess):
    """Plays ``frames`` sample by sample and stops each one at its early-exit step.

    Parameters:
        frames: (N, X, Y, C, T) binary spikes in Lava's layout.
        readout: the readout neurons' voltage Var (the logits, in fixed point).
        states: every state Var of the network; each is reset to its ``init`` at an exit.
        threshold: the exit rule's confidence threshold (1.0: every sample runs all T steps).
        latency: the network's pipeline latency (see :mod:`tks_lava.deploy.window`).
        taps: (spike OutPort, fan-out) per synapse fed by a neuron layer, counted as SynOps.
        input_fanout: fan-out of the input frames into the first synapse (None: not counted).

    Vars read after the run: ``logits`` (N, classes, T) fixed point, zero after the exit step;
    ``exit_steps`` (N,) 1-based; ``steps`` (N,) Lava steps each sample occupied; ``synops``
    (N, 1 + len(taps)) per synapse; ``progress`` (2,): samples finished, and steps the current
    sample has run so far.
    """

    def __init__(
        self,
        *,
        frames: np.ndarray,
        readout: Var,
        states: list[Var],
        threshold: float,
        latency: int,
        taps: list[tuple[OutPort, float | np.ndarray]] = (),
        input_fanout: float | np.ndarray | None = None,
    ) -> None:
        frames = np.asarray(frames)
        if frames.ndim != 5 or len(frames) == 0:
            raise ValueError(f"frames must be non-empty (N, X, Y, C, T), got {frames.shape}")
        threshold = check_threshold(threshold)
        n, t = len(frames), frames.shape[-1]
        classes = readout.shape[0]
        super().__init__(
            threshold=threshold,
            latency=int(latency),
            reset_values=[np.broadcast_to(v.init, v.shape).astype(np.int32) for v in states],
            fanouts=[input_fanout] + [f for _, f in taps],
        )
        self.frames = Var(shape=frames.shape, init=frames.astype(np.int8))
        self.s_out = OutPort(shape=frames.shape[1:-1])
        self.v_ref = RefPort(readout.shape)
        self.v_ref.connect_var(readout)
        self.state_vars = list(states)
        for i, var in enumerate(states):
            ref = RefPort(var.shape)
            setattr(self, f"reset_{i}", ref)
            ref.connect_var(var)
        self.n_taps = len(taps)
        for j, (port, _) in enumerate(taps):
            tap = InPort(port.shape)
            setattr(self, f"tap_{j}", tap)
            port.connect(tap)
        self.logits = Var(shape=(n, classes, t), init=np.zeros((n, classes, t), np.int64))
        self.exit_steps = Var(shape=(n,), init=np.zeros(n, np.int32))
        self.steps = Var(shape=(n,), init=np.zeros(n, np.int32))
        self.synops = Var(shape=(n, 1 + len(taps)), init=np.zeros((n, 1 + len(taps))))
        self.progress = Var(shape=(2,), init=np.zeros(2, np.int32))


class ExitControllerModelBase(PyLoihiProcessModel):
    """The controller's behaviour; :func:`controller_model` adds the network's ports."""

    frames: np.ndarray = LavaPyType(np.ndarray, np.int8)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=1)
    v_ref: PyRefPort = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
    logits: np.ndarray = LavaPyType(np.ndarray, np.int64)
    exit_steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    steps: np.ndarray = LavaPyType(np.ndarray, np.int32)
    synops: np.ndarray = LavaPyType(np.ndarray, np.float64)
    progress: np.ndarray = LavaPyType(np.ndarray, np.int32)
    n_resets = 0
    n_taps = 0

    def __init__(self, proc_params: Any) -> None:
        super().__init__(proc_params)
        self.k = -1  # step of the current sample (0: its first frame is sent)
        self.n = 0  # the current sample
        self.buf: np.ndarray | None = None  # its logits so far, float, (1, classes, T)
        self.reset_values = proc_params["reset_values"]
        self.fanouts = proc_params["fanouts"]
        self.latency = proc_params["latency"]
        self.threshold = proc_params["threshold"]

    @property
    def taps(self) -> list[PyInPort]:  # the builder sets the ports after __init__
        return [getattr(self, f"tap_{j}") for j in range(self.n_taps)]

    @property
    def resets(self) -> list[PyRefPort]:
        return [getattr(self, f"reset_{i}") for i in range(self.n_resets)]

    def run_spk(self) -> None:
        n_samples, t_max = self.frames.shape[0], self.frames.shape[-1]
        active = self.n < n_samples
        self.k += 1
        if active and self.k < t_max:
            frame = self.frames[self.n, ..., self.k].astype(np.int32)
        else:
            frame = np.zeros(self.frames.shape[1:-1], np.int32)
        self.s_out.send(frame)
        spikes = [tap.recv() for tap in self.taps]  # every step: the channels stay in step
        if not active:
            return
        self.steps[self.n] += 1
        self.progress[1] = self.k + 1
        for j, (s, fanout) in enumerate(zip([frame, *spikes], self.fanouts, strict=True)):
            if fanout is not None:
                self.synops[self.n, j] += _weighted_count(s, fanout)

    def post_guard(self) -> bool:
        return self.n < self.frames.shape[0] and self.k > self.latency

    def run_post_mgmt(self) -> None:
        t_max = self.frames.shape[-1]
        t = self.k - self.latency - 1  # the input-aligned step this logit belongs to
        v = self.v_ref.read()
        self.logits[self.n, :, t] = v
        if self.buf is None:
            self.buf = np.zeros((1, v.shape[0], t_max))
        self.buf[0, :, t] = v / VOLTAGE_SCALE
        if not should_exit(self.buf, t + 1, self.threshold)[0]:
            return
        self.exit_steps[self.n] = t + 1
        for ref, value in zip(self.resets, self.reset_values, strict=True):
            ref.write(value)
        for ref in self.resets:  # a write is not acknowledged: without this wait a process
            ref.wait()  # may start the next step before it applied its reset (seen here)
        self.n += 1
        self.progress[:] = (self.n, 0)
        self.k = -1
        self.buf[:] = 0.0


def _weighted_count(spikes: np.ndarray, fanout: float | np.ndarray) -> float:
    """SynOps of one step: nonzero spikes x fan-out (scalar, or an (X, Y) map over (X, Y, C))."""
    active = np.asarray(spikes) != 0
    f = np.asarray(fanout, dtype=np.float64)
    if f.ndim == 0:
        return float(active.sum()) * float(f)
    return float((active.reshape(f.shape + (-1,)).sum(axis=-1) * f).sum())


def controller_model(process: ExitController) -> type:
    """A process model class for ``process``: the base behaviour plus one typed port per
    state Var (RefPort) and spike tap (InPort), named as on the process."""
    attrs: dict[str, Any] = {
        "n_resets": len(process.state_vars),
        "n_taps": process.n_taps,
        "__module__": __name__,
    }
    ports = {}
    for i in range(len(process.state_vars)):
        ports[f"reset_{i}"] = LavaPyType(PyRefPort.VEC_DENSE, np.int32)
    for j in range(process.n_taps):
        ports[f"tap_{j}"] = LavaPyType(PyInPort.VEC_DENSE, np.int32)
    attrs.update(ports)
    attrs["__annotations__"] = {name: Any for name in ports}
    model = type("ExitControllerModel", (ExitControllerModelBase,), attrs)
    return tag("fixed_pt", "floating_pt")(
        requires(CPU)(implements(proc=ExitController, protocol=LoihiProtocol)(model))
    )
