"""Run a NetX HDF5 network in Lava over many samples and read out per-step logits.

Timing conventions (measured, and checked by the tests against SLAYER):

* Lava's step s (1-based) plays input column s - 1; every delay-shifted layer adds one step and
  the readout voltage recorded at step s equals SLAYER's raw output at s - 2. With the model's
  ``latency`` (number of delay-shifted blocks), the logit of input-aligned step t of a sample
  whose window starts at column ``n * window`` is at recorded column
  ``n * window + t + latency + 1``.
* Samples are played back to back in windows of ``window = T + latency + 2`` columns: T input
  frames, then silence long enough for the last spikes to leave the pipeline. The network resets
  every neuron at the first step of each window (``reset_interval=window, reset_offset=1``;
  the default offset 0 resets one step late and lets the previous sample leak in), so every
  sample sees a fresh network, exactly as in a separate run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

import tks_lava  # noqa: F401  (Lava Python 3.11 fix)
from tks_lava.lava_session import LavaSession
from tks_lava.models import encode_spikes

BACKENDS = ("sim", "loihi2")


@dataclass
class LavaRun:
    """Per-step logits from Lava plus what it cost."""

    logits: np.ndarray  # (N, classes, T) float, input-aligned
    backend: str
    window: int
    steps: int
    compile_s: float
    run_s: float

    @property
    def steps_per_s(self) -> float:
        return self.steps / self.run_s if self.run_s > 0 else float("nan")

    @property
    def samples_per_s(self) -> float:
        return len(self.logits) / self.run_s if self.run_s > 0 else float("nan")


def sample_window(timesteps: int, latency: int) -> int:
    """Lava steps given to one sample: its T frames, then the pipeline flush."""
    return timesteps + latency + 2


def frames_to_raster(frames: torch.Tensor | np.ndarray, window: int) -> np.ndarray:
    """SLAYER frames (N, C, H, W, T) -> Lava spike raster (X=W, Y=H, C, N * window), int8.

    Sample n occupies columns ``[n * window, n * window + T)``; the rest of its window is zero.
    """
    x = torch.as_tensor(frames)
    if x.dim() != 5:
        raise ValueError(f"frames must be (N, C, H, W, T), got shape {tuple(x.shape)}")
    n, c, h, w, t = x.shape
    if t > window:
        raise ValueError(f"window {window} is shorter than the {t} frames of a sample")
    spikes = encode_spikes(x).to(torch.int8).numpy()
    raster = np.zeros((w, h, c, n * window), dtype=np.int8)
    for i in range(n):
        raster[..., i * window : i * window + t] = spikes[i].transpose(2, 1, 0, 3)
    return raster


def gather_logits(
    recorded: np.ndarray, n_samples: int, timesteps: int, latency: int, window: int
) -> np.ndarray:
    """Recorded readout voltages (classes, steps) -> input-aligned logits (N, classes, T)."""
    from tks_lava.adapters.cpu import VOLTAGE_SCALE

    cols = (
        np.arange(n_samples)[:, None] * window + np.arange(timesteps)[None, :] + latency + 1
    )  # (N, T)
    if cols.max() >= recorded.shape[-1]:
        raise ValueError(
            f"recorded {recorded.shape[-1]} steps, need {cols.max() + 1} for "
            f"{n_samples} samples of window {window}"
        )
    return (recorded[:, cols].transpose(1, 0, 2) / VOLTAGE_SCALE).astype(np.float64)


def network_latency(net) -> int:  # noqa: ANN001 - a lava.lib.dl.netx.hdf5.Network
    """Delay-shifted layers before the readout: every NetX layer except the last."""
    return len(net.layers) - 1


def run_lava(
    net_path: str | Path,
    frames: torch.Tensor | np.ndarray,
    *,
    backend: str = "sim",
    chunk: int = 50,
    progress: bool = True,
) -> LavaRun:
    """Run the NetX network on every sample of ``frames`` (N, C, H, W, T) in one Lava run.

    Returns input-aligned per-step logits (N, classes, T). ``chunk`` samples are run per
    ``run()`` call only to drive the progress bar; the network is compiled once.
    """
    from lava.lib.dl import netx

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {BACKENDS}")
    if backend == "loihi2":
        from tks_lava import loihi2

        loihi2.require()
    x = torch.as_tensor(frames)
    if x.dim() != 5 or len(x) == 0:
        raise ValueError(f"frames must be a non-empty (N, C, H, W, T) batch, got {tuple(x.shape)}")
    n, c, h, w, t = x.shape
    probe = netx.hdf5.Network(net_config=str(net_path), input_shape=(w, h, c))
    latency = network_latency(probe)
    window = sample_window(t, latency)
    net = netx.hdf5.Network(
        net_config=str(net_path),
        input_shape=(w, h, c),
        reset_interval=window,
        reset_offset=1,
    )
    steps = n * window
    if backend == "loihi2":
        source, readout, run_cfg = loihi2.build_io(net, frames_to_raster(x, window), steps)
    else:
        from lava.magma.core.run_configs import Loihi2SimCfg

        from tks_lava.adapters import LogitReadout, SpikeFrameSource

        source = SpikeFrameSource(frames_to_raster(x, window))
        readout = LogitReadout(net.out_layer.neuron.v, steps)
        run_cfg = Loihi2SimCfg(select_tag="fixed_pt")
    source.s_out.connect(net.inp)

    t0 = time.perf_counter()
    with LavaSession(net, run_cfg) as session:
        t1 = time.perf_counter()
        with tqdm(total=n, desc=f"Lava {backend}", unit="sample", disable=not progress) as bar:
            done = 0
            while done < n:
                k = min(chunk, n - done)
                session.run(k * window)
                done += k
                bar.update(k)
        run_s = time.perf_counter() - t1
        recorded = np.asarray(readout.data.get())
    return LavaRun(
        logits=gather_logits(recorded, n, t, latency, window),
        backend=backend,
        window=window,
        steps=steps,
        compile_s=t1 - t0,
        run_s=run_s,
    )


@torch.no_grad()
def torch_logits(model: torch.nn.Module, frames: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """The PyTorch (SLAYER) model's input-aligned per-step logits (N, classes, T)."""
    model.eval()
    outs = [model(frames[i : i + batch_size]) for i in range(0, len(frames), batch_size)]
    return torch.cat(outs).double().numpy()
