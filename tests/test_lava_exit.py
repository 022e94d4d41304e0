"""Early exit inside Lava: same decisions as the post-hoc rule, exact resets, counted work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tks_lava import metrics
from tks_lava.deploy.early_exit import LavaExitRun, network_states, run_lava_exit
from tks_lava.deploy.window import run_lava, torch_logits
from tks_lava.metrics.synops import conv_fanout, lava_fanout, synaptic_ops
from tks_lava.model.network import build_model, make_config

# ----------------------------------------------------------------------------- pure parts


def test_should_exit_is_the_post_hoc_rule_one_step_at_a_time():
    # running mean after step 1 [ln 9, 0]: softmax 0.9; after step 2 [ln 3, 0]: 0.75
    logits = np.zeros((1, 2, 3))
    logits[0, 0, 0] = np.log(9.0)
    logits[0, 0, 1] = np.log(9.0) - 2 * (np.log(9.0) - np.log(3.0))
    assert metrics.running_probabilities(logits)[0, 0, 1] == pytest.approx(0.75)
    assert not metrics.should_exit(logits, 1, 0.9)[0]  # 0.9 is not > 0.9 (float: 0.9 rounds)
    assert metrics.should_exit(logits, 1, 0.89)[0]
    assert not metrics.should_exit(logits, 2, 0.8)[0]  # 0.75 after two steps
    assert metrics.should_exit(logits, 3, 1.0)[0]  # the last step always exits
    later = logits.copy()
    later[0, 0, 2] = 100.0  # columns after `steps` do not change the decision
    assert metrics.should_exit(later, 2, 0.8)[0] == metrics.should_exit(logits, 2, 0.8)[0]
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(50, 4, 6)) * 2
    post = metrics.early_exit(batch, np.zeros(50, int), 0.7)
    first = [
        next(t for t in range(1, 7) if metrics.should_exit(batch[i : i + 1], t, 0.7)[0])
        for i in range(50)
    ]
    np.testing.assert_array_equal(first, post.exit_steps)


def test_lava_conv_fanout_is_the_torch_geometry_in_xy_layout():
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense

    w = np.zeros((4, 3, 3, 2))  # Lava (out, kx, ky, in)
    conv = Conv(weight=w, input_shape=(6, 5, 2), stride=2, padding=1)
    # x axis (6 positions, k3 s2 p1): outputs 0..2 read [0,1], [1,2,3], [3,4,5]
    np.testing.assert_array_equal(lava_fanout(conv), conv_fanout((6, 5), 4, (3, 3), (2, 2), (1, 1)))
    assert lava_fanout(conv)[:, 0].tolist() == [4 * 1 * 1, 4 * 2 * 1, 4 * 1 * 1, 4 * 2 * 1, 4, 4]
    assert lava_fanout(Dense(weights=np.zeros((7, 3)))) == 7.0


def test_exit_run_accounting_by_hand():
    logits = np.zeros((2, 3, 4))
    logits[0, 1, 0] = 5.0  # sample 0 says class 1 at its exit step 1
    logits[1, 2, :] = 1.0  # sample 1 says class 2 at step 4
    run = LavaExitRun(
        logits=logits,
        exit_steps=np.array([1, 4]),
        lava_steps=np.array([1 + 2 + 1, 4 + 2 + 1]),
        synops=np.array([[10.0, 5.0], [20.0, 5.0]]),
        threshold=0.9,
        latency=2,
        compile_s=1.0,
        run_s=2.0,
    )
    s = run.summary(labels=[1, 0])
    assert run.predictions.tolist() == [1, 2]
    assert s["accuracy"] == 0.5 and s["mean_exit_step"] == 2.5
    assert s["lava_steps"] == 11 and s["window_steps"] == 2 * run.window == 2 * (4 + 2 + 2)
    assert s["steps_saved"] == pytest.approx(1 - 11 / 16)
    assert s["synops_per_sample"] == 20.0
    # sample 0: softmax([0, 5, 0]) = 0.987 > 0.9 at step 1; sample 1: e / (e + 2) = 0.58 never
    post = run.against_window(logits, 4.0, [1, 0])  # the fixed window took 4 s, this run 2 s
    assert post["matches_post_hoc"] and post["post_hoc_mean_exit_step"] == 2.5
    assert post["wall_speedup"] == 2.0 and post["accuracy"] == s["accuracy"]
    assert post["predicted_steps"] == (1 + 4) + 2 * (2 + 1) == s["lava_steps"]
    late = run.against_window(np.where(logits > 0, 0.1, 0.0), 4.0, [1, 0])  # never confident
    assert not late["matches_post_hoc"] and late["post_hoc_mean_exit_step"] == 4.0
    both = LavaExitRun.concat([run, run], run_s=3.0)
    assert both.steps == 22 and both.run_s == 3.0 and both.synops.shape == (4, 2)


def test_exit_controller_refuses_what_it_cannot_reset(tmp_path):
    class Stranger:  # a NetX layer whose process the controller does not know
        synapse = None
        neuron = type("Sigma", (), {})()

    with pytest.raises(ValueError, match="cannot reset a Sigma"):
        network_states(type("Net", (), {"layers": [Stranger()]})())
    with pytest.raises(ValueError, match="threshold"):
        run_lava_exit(tmp_path / "x.net", torch.zeros(1, 2, 8, 8, 3), 1.5)
    with pytest.raises(ValueError, match="N, C, H, W, T"):
        run_lava_exit(tmp_path / "x.net", torch.zeros(2, 8, 8, 3), 0.9)


# ----------------------------------------------------------------------------- in Lava


def _tiny(tmp_path, n=10, t=5):
    """A tiny active network: hidden weights scaled up to spike, the readout scaled down so
    that confidences stay below 1 and samples exit at different steps."""
    torch.manual_seed(0)
    net = build_model(make_config("small_snn", (2, 8, 8), 3)).eval()
    gains = [name for name, _ in net.named_parameters() if name.endswith("weight_g")]
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name in gains:
                p.mul_(0.6 if name == gains[-1] else 6.0)
    path = tmp_path / "tiny.net"
    net.export_hdf5(str(path))
    frames = (torch.rand(n, 2, 8, 8, t) < torch.rand(n, 1, 1, 1, 1) * 0.5).float()
    return net, path, frames


def _varied_threshold(logits: np.ndarray) -> float:
    """A threshold (between two observed confidences) at which exits fall on at least three
    different steps and at least one sample never exits early."""
    conf = metrics.running_probabilities(logits).max(axis=1)  # (N, T)
    labels = np.zeros(len(logits), int)
    levels = np.unique(conf)
    for threshold in (levels[1:] + levels[:-1]) / 2:
        exits = metrics.early_exit(logits, labels, threshold).exit_steps
        if len(set(exits.tolist())) >= 3 and (conf.max(axis=1) <= threshold).any():
            return float(threshold)
    raise AssertionError("no threshold gives varied exits: the test network is degenerate")


@pytest.mark.slow
def test_exit_in_lava_decides_as_post_hoc_and_resets_exactly(tmp_path, no_leftover_children):
    net, path, frames = _tiny(tmp_path)
    full = run_lava(path, frames, progress=False)  # the fixed-window run
    np.testing.assert_array_equal(full.logits, torch_logits(net, frames))
    t, latency = frames.shape[-1], net.latency
    threshold = _varied_threshold(full.logits)
    never = metrics.running_probabilities(full.logits).max(axis=(1, 2)) <= threshold
    post = metrics.early_exit(full.logits, np.zeros(len(frames), int), threshold)

    for models in ("fast", "reference"):
        run = run_lava_exit(path, frames, threshold, models=models, progress=False)
        np.testing.assert_array_equal(run.exit_steps, post.exit_steps)
        np.testing.assert_array_equal(run.predictions, post.predictions)
        until = np.arange(t)[None, None, :] < run.exit_steps[:, None, None]
        # every sample's logits are those of a fresh network up to its exit, nothing after it
        np.testing.assert_array_equal(run.logits, np.where(until, full.logits, 0.0))
        np.testing.assert_array_equal(run.lava_steps, run.exit_steps + latency + 1)
        assert (run.exit_steps[never] == t).all()  # never confident: runs to T
        assert run.steps < run.window_steps == full.steps

    one = run_lava_exit(path, frames, 1.0, count_synops=False, progress=False)
    np.testing.assert_array_equal(one.logits, full.logits)  # threshold 1.0: today's logits
    assert (one.exit_steps == t).all() and one.synops is None


def _slayer_synops(net, frames: torch.Tensor) -> list[np.ndarray]:
    """SLAYER's raw SynOps (N, columns) per weighted block on ``frames`` padded with zeros."""
    from benchmarks.count_synops import block_fanout

    padded = torch.cat([frames, torch.zeros_like(frames), torch.zeros_like(frames)], dim=-1)
    per_layer = []
    hooks = [
        block.register_forward_pre_hook(
            lambda m, args, b=block: per_layer.append(
                synaptic_ops(args[0].numpy(), block_fanout(b, args[0].shape[1:-1]))
            )
        )
        for block in net.blocks
        if getattr(block, "synapse", None) is not None
    ]
    with torch.no_grad():
        net.forward_padded(padded)  # delay shifts on: column j of every layer is Lava's step j
    for h in hooks:
        h.remove()
    return per_layer


@pytest.mark.slow
def test_synops_are_the_spikes_lava_produced_until_exit(tmp_path, no_leftover_children):
    net, path, frames = _tiny(tmp_path)
    threshold = _varied_threshold(torch_logits(net, frames))  # SLAYER's logits are Lava's
    run = run_lava_exit(path, frames, threshold, progress=False)
    # Lava's step j of a sample is column j of every layer; the sample occupied lava_steps[n]
    per_layer = _slayer_synops(net, frames)
    expected = np.stack(
        [[ops[n, : run.lava_steps[n]].sum() for ops in per_layer] for n in range(len(frames))]
    )
    assert expected.min() > 0, "every layer must see spikes for the test to mean anything"
    np.testing.assert_array_equal(run.synops, expected)
    assert len(set(run.lava_steps.tolist())) >= 3


@pytest.mark.slow
def test_vgg_pools_count_as_pools_and_exit_exactly(tmp_path, no_leftover_children):
    """vgg_snn's pools run in Lava as diagonal convs; odd sizes (18 -> 9 -> 5 -> 3) exercise
    SLAYER's end padding. Same logits as the fixed window at 1.0, SynOps as SLAYER's."""
    from tks_lava.model.export import export_netx

    torch.manual_seed(0)
    net = build_model(make_config("vgg_snn", (2, 18, 18), 3)).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(3.0)
    path = export_netx(net, tmp_path / "vgg.net")
    frames = (torch.rand(1, 2, 18, 18, 3) < 0.3).float()
    run = run_lava_exit(path, frames, 1.0, progress=False)
    np.testing.assert_array_equal(run.logits, torch_logits(net, frames))
    expected = [ops[0, : run.lava_steps[0]].sum() for ops in _slayer_synops(net, frames)]
    assert min(expected) > 0
    np.testing.assert_array_equal(run.synops[0], expected)


@pytest.mark.slow
def test_exit_in_lava_over_two_runtimes_equals_one(tmp_path, no_leftover_children):
    net, path, frames = _tiny(tmp_path)
    threshold = _varied_threshold(torch_logits(net, frames))
    one = run_lava_exit(path, frames, threshold, progress=False)
    two = run_lava_exit(path, frames, threshold, jobs=2, progress=False)
    for field in ("logits", "exit_steps", "lava_steps", "synops"):
        np.testing.assert_array_equal(getattr(two, field), getattr(one, field))


@pytest.mark.slow
def test_a_failing_controller_surfaces_its_traceback(tmp_path, monkeypatch, no_leftover_children):
    """The controller runs in Lava's forked child: its error reaches the user with its own
    traceback (not Lava's bare count), and every child is stopped."""
    from tks_lava.deploy.adapters import exit as exit_adapter
    from tks_lava.deploy.session import LavaChildError

    def broken(*args, **kwargs):
        raise ArithmeticError("controller exploded on purpose")

    _, path, frames = _tiny(tmp_path, n=2)
    monkeypatch.setattr(exit_adapter, "should_exit", broken)  # the fork inherits the patch
    with pytest.raises(LavaChildError, match="controller exploded on purpose") as err:
        run_lava_exit(path, frames, 0.9, progress=False)
    assert "run_post_mgmt" in str(err.value)
