"""Can Lava run this architecture? Build it, export it to NetX and load it, before long work.

Training a network for days and then learning that NetX cannot load it is the failure this
module prevents: :func:`check_deployable` builds the architecture (SLAYER's own shape arithmetic,
see :class:`tks_lava.model.network.SpikingNet`), exports it with the project's export (pool blocks
included) and constructs the ``netx.hdf5.Network`` from the file. No simulation runs, so it takes
seconds even for ``vgg_snn``.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from tks_lava.model.export import close_netx, load_netx
from tks_lava.model.network import ArchitectureError, ModelConfig, build_model


@dataclass(frozen=True)
class DeployCheck:
    """What NetX built: layer table and pipeline latency (steps from input to readout)."""

    layers: int
    latency: int
    seconds: float
    table: str


def check_deployable(config: ModelConfig) -> DeployCheck:
    """Raise :class:`ArchitectureError` unless ``config`` exports to a NetX network that Lava
    loads with the same pipeline latency as the SLAYER model (what aligns the logits)."""
    t0 = time.perf_counter()
    with torch.random.fork_rng():  # the caller's seeded RNG stays untouched
        model = build_model(config)
    with tempfile.TemporaryDirectory(prefix="tks_lava-deploy-") as tmp:
        path = Path(tmp) / "probe.net"
        model.export_hdf5(str(path))  # a throwaway model: no copy needed (see export_netx)
        net = load_netx(path, config.input_shape)
        close_netx(net)
    latency = len(net.layers) - 1
    if latency != model.latency:
        raise ArchitectureError(
            f"{config.name}: NetX builds {len(net.layers)} layers (latency {latency}) but the "
            f"SLAYER model has latency {model.latency}; its logits would not line up in Lava"
        )
    return DeployCheck(len(net.layers), latency, time.perf_counter() - t0, str(net))
