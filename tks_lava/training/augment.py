"""Training-time augmentation of event frames: random crop (shift), horizontal flip, rotation.

The reference recipe for DVS data (``../docs/tks-method.md``): RandomCrop with padding
size / 12 (4 px at 48), horizontal flip, rotation within +-15 degrees. Each op draws one
transform per sample and applies it to every time step (the camera moved, not each frame).
Ops keep frames binary/integer: shifts pad with zeros, rotation samples nearest-neighbour.
Off by default; ``TrainConfig.augment`` names the ops and the model card records them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENT_OPS = ("crop", "flip", "rotate")
ROTATE_DEG = 15.0


def parse_augment(spec: str | None) -> tuple[str, ...]:
    """``"none"``/None/"" -> (); ``"crop,rotate"`` -> ("crop", "rotate"); unknown ops raise."""
    if spec is None or spec.strip().lower() in ("", "none"):
        return ()
    ops = tuple(op.strip().lower() for op in spec.split(",") if op.strip())
    bad = [op for op in ops if op not in AUGMENT_OPS]
    if bad:
        raise ValueError(
            f"unknown augmentation {', '.join(bad)}; use 'none' or a comma list of {AUGMENT_OPS}"
        )
    return tuple(dict.fromkeys(ops))


def crop_padding(height: int, width: int) -> int:
    """Padding of the random crop: the reference's size / 12 (4 px at 48 x 48), at least 1."""
    return max(1, round(min(height, width) / 12))


def shift(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Shift each sample of (N, C, H, W, T) by integer (dy[n], dx[n]) pixels, zero-filled.

    Equals RandomCrop with zero padding p and offset (p + dy, p + dx).
    """
    n, _, h, w, _ = x.shape
    p = int(max(dy.abs().max(), dx.abs().max(), 0)) if n else 0
    padded = F.pad(x, (0, 0, p, p, p, p))
    out = torch.empty_like(x)
    for i in range(n):
        top, left = p - int(dy[i]), p - int(dx[i])
        out[i] = padded[i, :, top : top + h, left : left + w, :]
    return out


def rotate(x: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each sample of (N, C, H, W, T) about its centre, nearest neighbour, zero-filled."""
    n, c, h, w, t = x.shape
    rad = degrees.to(torch.float32) * (math.pi / 180.0)
    cos, sin = torch.cos(rad), torch.sin(rad)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
    theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
    planes = x.permute(0, 1, 4, 2, 3).reshape(n, c * t, h, w)
    grid = F.affine_grid(theta.to(x.dtype), list(planes.shape), align_corners=False)
    out = F.grid_sample(planes, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.reshape(n, c, t, h, w).permute(0, 1, 3, 4, 2).contiguous()


def augment_batch(
    x: torch.Tensor, ops: tuple[str, ...], generator: torch.Generator
) -> torch.Tensor:
    """Apply ``ops`` (from :func:`parse_augment`) to a CPU batch (N, C, H, W, T)."""
    if not ops:
        return x
    n, _, h, w, _ = x.shape
    if "crop" in ops:
        p = crop_padding(h, w)
        dy, dx = torch.randint(-p, p + 1, (2, n), generator=generator)
        x = shift(x, dy, dx)
    if "flip" in ops:
        flip = torch.rand(n, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None, None], x.flip(3), x)
    if "rotate" in ops:
        angle = (torch.rand(n, generator=generator) * 2 - 1) * ROTATE_DEG
        x = rotate(x, angle)
    return x
