"""Lava input/output adapters: frames in, per-step logits out (CPU process models).

Kept in a folder of their own because Lava's compiler executes every module in the folder of a
Process's module while it searches for process models. The Loihi 2 wiring is in
:mod:`tks_lava.deploy.loihi2`.
"""

from tks_lava.deploy.adapters.cpu import LogitReadout, SpikeFrameSource

__all__ = ["LogitReadout", "SpikeFrameSource"]
