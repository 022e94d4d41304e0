"""Fast bit-exact CPU process models for the processes NetX builds, and their run config.

``run_config("fast")`` is Lava's ``Loihi2SimCfg(select_tag="fixed_pt")`` with the project's
models put in place of the stock ones through Lava's own mechanism
(``exception_proc_model_map``; Lava's compiler never finds a model outside the Process's own
package by tag). ``run_config("reference")`` runs Lava's stock models, so anyone can check that
both give the same integers. Works for any NetX network, not only this project's::

    from lava.lib.dl import netx
    from tks_lava.deploy.process_models import run_config
    net = netx.hdf5.Network(net_config="my.net", input_shape=(w, h, c))
    net.run(condition=RunSteps(num_steps=100), run_cfg=run_config("fast"))

Kept in a folder of its own: Lava's compiler imports every module in a Process's folder.
"""

from __future__ import annotations

from typing import Any

import tks_lava  # noqa: F401  (Lava Python 3.11 fix before any lava import)

MODEL_CHOICES = ("fast", "reference")


def fast_models() -> dict[type, type]:
    """Lava Process class -> the project's bit-exact fast model for it."""
    from lava.proc.conv.process import Conv

    from tks_lava.deploy.process_models.conv import FastConvModel

    return {Conv: FastConvModel}


def run_config(models: str = "fast", **kw: Any) -> Any:
    """``Loihi2SimCfg(select_tag="fixed_pt", ...)`` running ``models`` ("fast" or "reference").

    Extra keyword arguments go to ``Loihi2SimCfg``; an ``exception_proc_model_map`` given
    there takes precedence over the fast models for the processes it names.
    """
    from lava.magma.core.run_configs import Loihi2SimCfg

    if models not in MODEL_CHOICES:
        raise ValueError(f"models must be one of {MODEL_CHOICES}, got {models!r}")
    chosen = fast_models() if models == "fast" else {}
    chosen.update(kw.pop("exception_proc_model_map", None) or {})
    kw.setdefault("select_tag", "fixed_pt")
    return Loihi2SimCfg(exception_proc_model_map=chosen, **kw)
