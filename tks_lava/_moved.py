"""Import paths from before the ``model/``, ``deploy/`` and ``metrics/`` folders keep working.

``import tks_lava.lava_run`` (and every submodule of a moved package, such as
``tks_lava.adapters.cpu``) gives the very module object of its new home, so classes and
module state are shared, with a :class:`DeprecationWarning` that names the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings
from types import ModuleType

#: old dotted path -> new dotted path (packages map their submodules too)
MOVED: dict[str, str] = {
    "tks_lava.architectures": "tks_lava.model.architectures",
    "tks_lava.models": "tks_lava.model.network",
    "tks_lava.model_card": "tks_lava.model.card",
    "tks_lava.export": "tks_lava.model.export",
    "tks_lava.deployable": "tks_lava.model.deployable",
    "tks_lava.shipped": "tks_lava.model.shipped",
    "tks_lava.evaluation": "tks_lava.model.evaluation",
    "tks_lava.losses": "tks_lava.training.losses",
    "tks_lava.checkpoint": "tks_lava.training.checkpoint",
    "tks_lava.training.run": "tks_lava.training.loop",
    "tks_lava.training.card": "tks_lava.training.run_card",
    "tks_lava.lava_session": "tks_lava.deploy.session",
    "tks_lava.lava_run": "tks_lava.deploy.window",
    "tks_lava.lava_exit": "tks_lava.deploy.early_exit",
    "tks_lava.netx_eval": "tks_lava.deploy.netx_eval",
    "tks_lava.recording": "tks_lava.deploy.recording",
    "tks_lava.adapters": "tks_lava.deploy.adapters",
    "tks_lava.lava_models": "tks_lava.deploy.process_models",
    "tks_lava.loihi2": "tks_lava.deploy.loihi2",
    "tks_lava.stats": "tks_lava.metrics.stats",
    "tks_lava.synops": "tks_lava.metrics.synops",
    "tks_lava.plots": "tks_lava.metrics.plots",
    "tks_lava.study.runner": "tks_lava.study.jobs",
}


def new_name(name: str) -> str | None:
    """The current path of the old module path ``name``, or None if it did not move."""
    if name in MOVED:
        return MOVED[name]
    for old, new in MOVED.items():
        if name.startswith(old + "."):
            return new + name[len(old) :]
    return None


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path=None, target=None):  # noqa: D102
        return importlib.util.spec_from_loader(name, self) if new_name(name) else None

    def create_module(self, spec) -> ModuleType:  # noqa: D102
        new = new_name(spec.name)
        warnings.warn(
            f"{spec.name} moved to {new}; import it from there", DeprecationWarning, stacklevel=2
        )
        return importlib.import_module(new)

    def exec_module(self, module: ModuleType) -> None:  # noqa: D102
        """Nothing to run: the module was imported under its new name."""


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (once), before a moved package's own path."""
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
