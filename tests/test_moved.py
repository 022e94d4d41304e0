"""Import paths from before the model/deploy/metrics layout still work, as the same modules."""

import importlib
import warnings

import pytest

from tks_lava._moved import MOVED, new_name


@pytest.mark.parametrize("old", sorted(MOVED))
def test_old_path_is_the_new_module(old):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(old)
    assert module is importlib.import_module(MOVED[old])
    assert any(MOVED[old] in str(w.message) for w in caught)


def test_submodule_of_a_moved_package_is_shared():
    from tks_lava.adapters.cpu import VOLTAGE_SCALE as old  # noqa: I001
    from tks_lava.lava_models.conv import FastConvModel  # old package path, submodule

    from tks_lava.deploy.adapters.cpu import VOLTAGE_SCALE

    assert old == VOLTAGE_SCALE
    assert (
        FastConvModel
        is importlib.import_module("tks_lava.deploy.process_models.conv").FastConvModel
    )


def test_names_that_did_not_move():
    assert new_name("tks_lava.data.aer") is None
    assert new_name("tks_lava.modelsX") is None
    assert new_name("tks_lava.adapters.exit") == "tks_lava.deploy.adapters.exit"


def test_the_readme_and_notebook_entry_points_import():
    from tks_lava import metrics
    from tks_lava.deploy.early_exit import run_lava_exit  # noqa: F401
    from tks_lava.deploy.netx_eval import evaluate_netx  # noqa: F401
    from tks_lava.model.card import ModelCard  # noqa: F401
    from tks_lava.model.export import export_netx  # noqa: F401

    assert callable(metrics.early_exit) and callable(metrics.should_exit)
