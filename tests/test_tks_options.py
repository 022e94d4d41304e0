"""TKS loss options reach the CLI, the config, the card and the loss; defaults = reference."""

import json

import torch

from tks_lava.train import build_parser
from tks_lava.training.config import TrainConfig, config_to_argv, resolve_config
from tks_lava.training.losses import tks_loss
from tks_lava.training.run_card import hyperparameters

OPTIONS = {
    "tks_detach_teacher": True,
    "tks_teacher": "mean",
    "tks_no_teacher": "skip",
    "tks_tau2": False,
}


def test_defaults_are_the_reference():
    c = resolve_config(out_dir="unused")
    assert (c.tks_detach_teacher, c.tks_teacher, c.tks_no_teacher, c.tks_tau2) == (
        False,
        "sum",
        "uniform",
        True,
    )
    assert c.loss().hparams == {
        "temperature": 5.0,
        "detach_teacher": False,
        "teacher_reduce": "sum",
        "no_teacher": "uniform",
        "tau2": True,
    }


def test_cli_round_trip_and_card():
    c = resolve_config(out_dir="unused", **OPTIONS)
    argv = config_to_argv(c)
    for flag in ("--tks-detach-teacher", "--no-tks-tau2", "--tks-teacher", "--tks-no-teacher"):
        assert flag in argv
    args = build_parser().parse_args(argv)
    assert resolve_config(args) == c
    h = hyperparameters(c)
    assert {k: h[k] for k in OPTIONS} == OPTIONS


def test_config_loss_uses_the_options():
    c = resolve_config(out_dir="unused", temperature=2.0, **OPTIONS)
    x = torch.randn(4, 3, 5, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    expected = tks_loss(
        x,
        y,
        temperature=2.0,
        lam=0.3,
        detach_teacher=True,
        teacher_reduce="mean",
        no_teacher="skip",
        tau2=False,
    )
    torch.testing.assert_close(c.loss()(x, y, lam=0.3), expected)


def test_old_config_without_the_fields_loads_with_defaults():
    d = json.loads(resolve_config(out_dir="unused").to_json())
    for key in OPTIONS:
        d.pop(key)
    old = TrainConfig.from_dict(d)
    assert old == resolve_config(out_dir="unused")


def test_bad_option_is_refused():
    import pytest

    from tks_lava.training.config import ConfigError

    with pytest.raises(ConfigError, match="tks_teacher"):
        resolve_config(out_dir="unused", tks_teacher="max")
