"""Event-frame augmentation: shifts, flips and rotations checked pixel by pixel."""

from __future__ import annotations

import pytest
import torch

from tks_lava.training.augment import augment_batch, crop_padding, parse_augment, rotate, shift


def _one_pixel(h=6, w=8, y=2, x=3, t=2):
    x_ = torch.zeros(1, 2, h, w, t)
    x_[0, 1, y, x, :] = 1.0
    return x_


def test_parse_augment():
    assert parse_augment("none") == () and parse_augment(None) == ()
    assert parse_augment(" Crop, rotate ,crop") == ("crop", "rotate")
    with pytest.raises(ValueError, match="unknown augmentation mixup"):
        parse_augment("crop,mixup")


def test_crop_padding_is_a_twelfth():
    assert crop_padding(48, 48) == 4 and crop_padding(34, 34) == 3 and crop_padding(8, 8) == 1


def test_shift_moves_every_step_and_fills_zeros():
    out = shift(_one_pixel(), torch.tensor([1]), torch.tensor([-2]))
    assert out[0, 1, 3, 1, :].tolist() == [1.0, 1.0]  # (2, 3) moved down 1, left 2
    assert out.sum() == 2
    edge = shift(_one_pixel(y=0, x=0), torch.tensor([-1]), torch.tensor([0]))
    assert edge.sum() == 0  # shifted out of the frame


def test_rotate_by_hand():
    x = torch.zeros(1, 1, 5, 5, 1)
    x[0, 0, 2, 4, 0] = 1.0  # right of the centre
    assert torch.equal(rotate(x, torch.tensor([0.0])), x)
    r = rotate(x, torch.tensor([90.0]))
    assert r.sum() == 1 and r[0, 0, 0, 2, 0] == 1  # a quarter turn (image y points down)
    assert set(r.unique().tolist()) <= {0.0, 1.0}  # nearest neighbour keeps spikes binary


def test_augment_batch_is_deterministic_per_generator_and_keeps_counts_binary():
    x = (torch.rand(4, 2, 12, 12, 3, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    ops = ("crop", "flip", "rotate")
    a = augment_batch(x, ops, torch.Generator().manual_seed(5))
    b = augment_batch(x, ops, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape
    assert set(a.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(augment_batch(x, (), torch.Generator()), x)
    flipped = augment_batch(_one_pixel(), ("flip",), torch.Generator().manual_seed(0))
    assert flipped.sum() == 2 and (flipped[0, 1, 2, 3].sum() == 2 or flipped[0, 1, 2, 4].sum() == 2)
