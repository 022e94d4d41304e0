"""Early exit inside Lava: each sample runs only until it is confident, then the next starts.

:func:`run_lava_exit` builds the NetX network (without NetX's periodic reset) beside an
:class:`~tks_lava.deploy.adapters.exit.ExitController` that plays the samples one after another,
decides exit after every logit by the post-hoc rule (:func:`tks_lava.metrics.early_exit`) and,
at the exit, writes every state Var back to its initial value. A sample that exits after
``e`` input frames occupies ``e + latency + 1`` Lava steps (its logit of frame ``e`` needs the
pipeline to fill), against ``T + latency + 2`` in the fixed-window run of
:func:`tks_lava.deploy.window.run_lava`. With threshold 1.0 no sample exits before T and the logits
are those of the fixed-window run, bit for bit.

The host does not know in advance how many steps the samples will need. It runs
``remaining * (latency + 2)`` steps at a time, less the steps the current sample has run (a lower
bound: no sample exits sooner), and reads how far the controller got: no step is run after the
last sample's exit.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

import tks_lava  # noqa: F401  (Lava Python 3.11 fix)
from tks_lava import metrics
from tks_lava.deploy.session import LavaSession
from tks_lava.deploy.window import (
    build_network,
    check_run_args,
    lava_layout,
    netx_latency,
    run_lava_parallel,
    sample_window,
)

#: state Vars of the Lava processes NetX builds: everything a step changes and a reset clears
STATE_VARS = {"Conv": ("a_buf",), "Dense": ("a_buff",), "LIF": ("u", "v"), "LIFReset": ("u", "v")}

#: the controller's Vars read after the run
CONTROLLER_RESULTS = ("logits", "exit_steps", "steps", "synops")


@dataclass
class LavaExitRun:
    """What a Lava early-exit run decided, and what it cost.

    ``logits`` (N, classes, T) are the input-aligned logits up to each sample's exit step and
    zero after it; ``lava_steps`` (N,) the Lava steps each sample occupied; ``synops`` (N,
    synapses) the synaptic operations executed per synapse process (None when not counted).
    """

    logits: np.ndarray
    exit_steps: np.ndarray
    lava_steps: np.ndarray
    synops: np.ndarray | None
    threshold: float
    latency: int
    compile_s: float
    run_s: float

    @property
    def timesteps(self) -> int:
        return self.logits.shape[-1]

    @property
    def predictions(self) -> np.ndarray:
        """Class of the running-mean logits at each sample's exit step, (N,)."""
        cum = metrics.cumulative_logits(self.logits)
        return cum.argmax(axis=1)[np.arange(len(cum)), self.exit_steps - 1]

    @property
    def steps(self) -> int:
        """Lava steps executed in all."""
        return int(self.lava_steps.sum())

    @property
    def window(self) -> int:
        """Lava steps the fixed-window run gives each sample."""
        return sample_window(self.timesteps, self.latency)

    @property
    def window_steps(self) -> int:
        """Lava steps the fixed-window run needs for the same samples."""
        return len(self.logits) * self.window

    def summary(self, labels: Any | None = None) -> dict[str, Any]:
        """The run's accounting as plain numbers (JSON-ready)."""
        out: dict[str, Any] = {
            "threshold": self.threshold,
            "samples": len(self.logits),
            "mean_exit_step": float(self.exit_steps.mean()),
            "lava_steps": self.steps,
            "window_steps": self.window_steps,
            "steps_saved": 1.0 - self.steps / self.window_steps,
            "mean_lava_steps_per_sample": float(self.lava_steps.mean()),
            "run_s": self.run_s,
            "compile_s": self.compile_s,
        }
        if labels is not None:
            y = np.asarray(labels)
            out["accuracy"] = float((self.predictions == y).mean())
        if self.synops is not None:
            out["synops_per_sample"] = float(self.synops.sum(axis=1).mean())
        return out

    def against_window(
        self, window_logits: np.ndarray, window_run_s: float, labels: Any
    ) -> dict[str, Any]:
        """This run's :meth:`summary` set against the fixed-window run of the same samples: the
        post-hoc analysis of its logits at this run's threshold, whether this run decided exactly
        as it did (every exit step and prediction), the Lava steps those exit steps need
        (``predicted_steps``), and the run-time ratio (``wall_speedup``, window / this run)."""
        post = metrics.early_exit(window_logits, labels, self.threshold)
        return {
            **self.summary(labels),
            "post_hoc_accuracy": post.accuracy,
            "post_hoc_mean_exit_step": post.mean_steps,
            "matches_post_hoc": bool(
                np.array_equal(self.exit_steps, post.exit_steps)
                and np.array_equal(self.predictions, post.predictions)
            ),
            "predicted_steps": int(post.exit_steps.sum()) + len(labels) * (self.latency + 1),
            "window_run_s": window_run_s,
            "wall_speedup": window_run_s / self.run_s if self.run_s > 0 else float("nan"),
        }

    @classmethod
    def concat(cls, runs: list[LavaExitRun], run_s: float) -> LavaExitRun:
        """Runs over consecutive blocks of samples as one run (``run_s``: the wall time)."""
        synops = None if runs[0].synops is None else np.concatenate([r.synops for r in runs])
        return cls(
            logits=np.concatenate([r.logits for r in runs]),
            exit_steps=np.concatenate([r.exit_steps for r in runs]),
            lava_steps=np.concatenate([r.lava_steps for r in runs]),
            synops=synops,
            threshold=runs[0].threshold,
            latency=runs[0].latency,
            compile_s=sum(r.compile_s for r in runs),
            run_s=run_s,
        )


def network_states(net: Any) -> list[Any]:
    """Every state Var of a NetX network's leaf processes, in layer order."""
    found = []
    for i, block in enumerate(net.layers):
        for proc in (getattr(block, "synapse", None), getattr(block, "neuron", None)):
            if proc is None:
                continue
            kind = type(proc).__name__
            if kind not in STATE_VARS:
                raise ValueError(
                    f"layer {i}: early exit in Lava cannot reset a {kind} process (it knows "
                    f"{', '.join(STATE_VARS)}); run without the exit controller"
                )
            found += [getattr(proc, name) for name in STATE_VARS[kind]]
    return found


def synapse_taps(net: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """(fan-out of the input into the first synapse or None, [(spike port, fan-out)] for every
    later synapse, fed by the neurons of the layer before it)."""
    from tks_lava.metrics.synops import lava_fanout

    input_fanout, taps = None, []
    for i, block in enumerate(net.layers):
        synapse = getattr(block, "synapse", None)
        if synapse is None:
            continue
        if i == 0:
            input_fanout = lava_fanout(synapse)
        else:
            taps.append((net.layers[i - 1].neuron.s_out, lava_fanout(synapse)))
    return input_fanout, taps


def run_lava_exit(
    net_path: str | Path,
    frames: torch.Tensor | np.ndarray,
    threshold: float,
    *,
    backend: str = "sim",
    models: str = "fast",
    jobs: int = 1,
    count_synops: bool = True,
    progress: bool = True,
) -> LavaExitRun:
    """Run every sample of ``frames`` (N, C, H, W, T) in Lava until its early exit.

    ``threshold``: exit once the running-mean softmax max exceeds it (1.0: never early).
    ``models``: ``fast`` or ``reference`` process models (:func:`~.process_models.run_config`).
    ``jobs`` > 1 splits the samples over that many Lava runtimes (same results).
    ``count_synops`` taps every neuron layer's spikes to count the SynOps executed (simulator
    only; on Loihi 2 the chip's own counters are the place for it).
    """
    threshold = metrics.check_threshold(threshold)
    x = check_run_args(frames, backend, jobs)
    if backend == "loihi2":
        count_synops = False  # spike taps would need a chip-to-host adapter per layer
    if jobs > 1 and len(x) > 1:
        options = dict(
            threshold=threshold, backend=backend, models=models, count_synops=count_synops
        )
        return run_lava_parallel(
            net_path, x, jobs=jobs, runner=run_lava_exit, progress=progress, **options
        )
    net, controller, run_cfg = build_exit_run(net_path, x, threshold, backend, models, count_synops)
    with LavaSession(net, run_cfg) as session:
        t1 = time.perf_counter()
        run_until_last_exit(session, controller, progress)
        run_s = time.perf_counter() - t1
        got = {name: np.asarray(getattr(controller, name).get()) for name in CONTROLLER_RESULTS}
    if int(got["steps"].sum()) != session.steps_run:
        raise RuntimeError(
            f"the exit controller accounted {int(got['steps'].sum())} steps, Lava ran "
            f"{session.steps_run}"
        )
    return exit_run_result(got, controller, count_synops, session.compile_s, run_s)


def build_exit_run(
    net_path: str | Path,
    x: torch.Tensor,
    threshold: float,
    backend: str,
    models: str,
    count_synops: bool,
) -> tuple[Any, Any, Any]:
    """(network, :class:`~.adapters.exit.ExitController`, run config) for ``x`` (N, C, H, W, T):
    the NetX network without its periodic reset, the controller wired to its input, readout,
    state Vars and (``count_synops``) spike taps."""
    from tks_lava.deploy.adapters.exit import ExitController, controller_model

    latency = netx_latency(net_path)
    net = build_network(net_path, tuple(x.shape[1:4]), latency)
    input_fanout, taps = synapse_taps(net) if count_synops else (None, [])
    controller = ExitController(
        frames=lava_layout(x),
        readout=net.out_layer.neuron.v,
        states=network_states(net),
        threshold=threshold,
        latency=latency,
        taps=taps,
        input_fanout=input_fanout,
    )
    model_map = {controller: controller_model(controller)}  # Lava looks instances up first
    if backend == "loihi2":
        from tks_lava.deploy import loihi2

        return net, controller, loihi2.exit_io(net, controller, model_map)
    from tks_lava.deploy.process_models import run_config

    controller.s_out.connect(net.inp)
    return net, controller, run_config(models, exception_proc_model_map=model_map)


def run_until_last_exit(session: LavaSession, controller: Any, progress: bool) -> None:
    """Step ``session`` until the controller has finished every sample, never past the last
    exit: every sample needs >= latency + 2 steps, and an unfinished one >= 1 more."""
    n = controller.frames.shape[0]
    least = controller.proc_params["latency"] + 2
    threshold = controller.proc_params["threshold"]
    done = into_current = 0
    bar = tqdm(total=n, desc=f"Lava exit>{threshold:g}", unit="sample", disable=not progress)
    with bar:
        while done < n:
            session.run((n - done - 1) * least + max(1, least - into_current))
            now, into_current = (int(v) for v in controller.progress.get())
            bar.update(now - done)
            done = now


def exit_run_result(
    got: dict[str, np.ndarray], controller: Any, count_synops: bool, compile_s: float, run_s: float
) -> LavaExitRun:
    """The :class:`LavaExitRun` of the controller's Vars ``got`` (fixed point -> float logits;
    the input's SynOps column dropped where the first layer has no synapse to count)."""
    from tks_lava.deploy.adapters.cpu import VOLTAGE_SCALE

    synops = got["synops"]
    if controller.proc_params["fanouts"][0] is None:
        synops = synops[:, 1:]
    return LavaExitRun(
        logits=(got["logits"] / VOLTAGE_SCALE).astype(np.float64),
        exit_steps=got["exit_steps"].astype(np.int64),
        lava_steps=got["steps"].astype(np.int64),
        synops=synops if count_synops else None,
        threshold=controller.proc_params["threshold"],
        latency=controller.proc_params["latency"],
        compile_s=compile_s,
        run_s=run_s,
    )
