"""The training forward without latency padding equals the padded (Lava-aligned) forward.

``SpikingNet.forward`` switches the blocks' one-step delay shifts off and steps each layer T
times; ``forward_padded`` keeps the shifts, pads ``latency`` empty frames and drops the first
``latency`` outputs, as Lava computes it. In a feed-forward net from zero state the shifts only
relabel time, so the logits must be bit-identical; gradients differ only by float summation
order (the convolutions' weight gradients sum over T + latency steps, zeros included).
"""

from __future__ import annotations

import json

import pytest
import torch

from tks_lava.model.architectures import ARCHITECTURES
from tks_lava.model.network import build_model, load_arch_file, make_config

#: smallest frame each registered architecture accepts (vgg_snn pools four times)
TINY_SIZES = {"small_snn": 8, "vgg_snn": 16, "tiny_snn": 8}
#: relative tolerance on gradients (float32 sums over 22 vs 10 steps; measured ~1e-6)
GRAD_RTOL = 1e-4

POOLED = {
    "layers": [
        {"kind": "conv", "out": 4, "k": 3, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "conv", "out": 6, "k": 3, "stride": 2, "padding": 1},
        {"kind": "pool", "k": 2, "stride": 2},
        {"kind": "flatten"},
        {"kind": "dense", "out": 8},
    ]
}


def _activated(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    """Untrained weights barely make spikes reach the readout: scale weight norm's g up."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(factor)
    return model


def _events(shape: tuple[int, ...], t: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(2, *shape, t, generator=g) < 0.4).float() * 2.0  # counts, encoded to 0/1


def _check_same(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Logits torch.equal, spikes present, gradients equal to GRAD_RTOL (relative to max)."""
    grads = []
    outs = []
    for forward in (model.forward_padded, model.forward):
        model.zero_grad()
        out = forward(x)
        (out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    padded, fast = outs
    assert fast.shape == padded.shape == (x.shape[0], model.config.num_classes, x.shape[-1])
    assert padded.abs().sum() > 0, "no activity reached the readout: the check would be vacuous"
    assert torch.equal(fast, padded)
    assert len(grads[0]) == len(grads[1]) > 0
    for g_pad, g_fast in zip(*grads, strict=True):
        scale = g_pad.abs().max().clamp_min(1e-12)
        assert (g_fast - g_pad).abs().max() <= GRAD_RTOL * scale


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_unpadded_forward_equals_padded_on_every_architecture(arch):
    torch.manual_seed(0)
    size = TINY_SIZES[arch]
    model = _activated(build_model(make_config(arch, (2, size, size), 5)), 4.0)
    _check_same(model, _events((2, size, size), 6, seed=1))


def test_unpadded_forward_equals_padded_on_a_pooling_arch_file(tmp_path):
    path = tmp_path / "pooled.json"
    path.write_text(json.dumps(POOLED))
    torch.manual_seed(1)
    model = _activated(build_model(make_config(load_arch_file(path), (2, 9, 11), 4)), 4.0)
    assert model.latency == 5
    _check_same(model, _events((2, 9, 11), 7, seed=2))


def test_forward_restores_delay_shifts_also_on_error():
    model = build_model(make_config("tiny_snn", (2, 8, 8), 3))
    shifted = [b.delay_shift for b in model.blocks if hasattr(b, "delay_shift")]
    assert any(shifted)
    model(torch.zeros(1, 2, 8, 8, 3))
    assert [b.delay_shift for b in model.blocks if hasattr(b, "delay_shift")] == shifted
    with pytest.raises(RuntimeError, match="boom"), model.delay_shifts_off():
        assert not any(getattr(b, "delay_shift", False) for b in model.blocks)
        raise RuntimeError("boom")
    assert [b.delay_shift for b in model.blocks if hasattr(b, "delay_shift")] == shifted
    assert model.latency == 2


def test_both_forwards_refuse_a_wrong_frame_size():
    model = build_model(make_config("tiny_snn", (2, 8, 8), 3))
    for forward in (model.forward, model.forward_padded):
        with pytest.raises(ValueError, match=r"\(C, H, W\) = \(2, 8, 8\), got \(1, 2, 9, 8, 3\)"):
            forward(torch.zeros(1, 2, 9, 8, 3))
