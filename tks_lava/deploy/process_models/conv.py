"""A fixed-point ``Conv`` process model that computes Lava's integers with one GEMM per step.

Lava's stock ``PyConvModelFixed`` calls ``scipy.signal.convolve2d`` once per (output, input)
channel pair in float64 and computes strided convolutions at full resolution before
subsampling. :class:`FastConvModel` computes the same thing as an im2col matrix product:

* the stock model correlates the zero-padded input with the *flipped*, dilated kernel
  (``convolve2d`` flips it back), then casts to int32 and wraps the sum to a signed 24-bit value
  (``signed_clamp``); inputs are cast to bool when the port carries unary spikes;
* a float GEMM of integers is exact while every partial sum stays below 2**24 (float32) or
  2**53 (float64). The bound ``max_out sum|w| * max|s|`` is checked every step (``max|s|`` is 1
  for unary spikes) and the narrowest exact type is used; a step whose bound reaches 2**31
  (where the stock model's own cast to int32 overflows) runs the stock code instead, and so
  does a layer whose ``groups`` Var wrapped (Lava stores it as int8: 128+ groups).

BLAS runs one thread per process (``threadpoolctl``); the model is built in Lava's forked child.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol
from lava.proc.conv import utils
from lava.proc.conv.models import PyConvModelFixed
from lava.proc.conv.process import Conv
from numpy.lib.stride_tricks import sliding_window_view

from tks_lava.deploy.process_models.threads import one_blas_thread

FLOAT32_EXACT = 2**24
INT32_CAST = 2**31


def exact_dtype(bound: float) -> type | None:
    """Narrowest float type whose GEMM is exact for partial sums below ``bound``; None when
    ``bound`` reaches 2**31, where the stock model's own int32 cast overflows."""
    if bound < FLOAT32_EXACT:
        return np.float32
    return np.float64 if bound < INT32_CAST else None


def conv_plan(weight: np.ndarray, groups: int) -> tuple[np.ndarray, float]:
    """Kernel as (groups, out per group, in per group * kx * ky) cross-correlation matrices,
    and ``max_out sum|w|`` (the largest possible |sum| for inputs of magnitude 1)."""
    c_out, kx, ky, c_in_g = weight.shape
    flipped = weight[:, ::-1, ::-1, :].transpose(0, 3, 1, 2)  # (out, in/g, kx, ky)
    mats = flipped.reshape(groups, c_out // groups, c_in_g * kx * ky).astype(np.float64)
    return mats, float(np.abs(mats).sum(axis=-1).max(initial=0.0))


def conv_gemm(
    s: np.ndarray,
    mats: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    dtype: type,
) -> np.ndarray:
    """Lava's conv of ``s`` (X, Y, C_in) as im2col GEMMs in ``dtype``: (X_out, Y_out, C_out)."""
    (kx, ky), (sx, sy), (px, py), (dx, dy) = kernel, stride, padding, dilation
    groups, out_g, k_len = mats.shape
    x = np.pad(s.astype(dtype, copy=False), ((px, px), (py, py), (0, 0)))
    span = (dx * (kx - 1) + 1, dy * (ky - 1) + 1)
    win = sliding_window_view(x, span, axis=(0, 1))[::sx, ::sy, :, ::dx, ::dy]
    xo, yo = win.shape[:2]
    cols = win.reshape(xo * yo, groups, k_len)
    w = mats.astype(dtype, copy=False)
    if groups == 1:
        out = cols[:, 0, :] @ w[0].T
    elif out_g == 1:  # depthwise (pooling): one kernel row per channel
        out = np.einsum("pgk,gk->pg", cols, w[:, 0, :])
    else:
        out = np.matmul(cols.transpose(1, 0, 2), w.transpose(0, 2, 1)).transpose(1, 0, 2)
    return out.reshape(xo, yo, groups * out_g)


@implements(proc=Conv, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class FastConvModel(PyConvModelFixed):
    """Bit-exact drop-in for ``PyConvModelFixed`` (same Vars, ports, send-then-receive order)."""

    def __init__(self, proc_params: dict) -> None:
        super().__init__(proc_params)
        one_blas_thread()
        self._plan: tuple[np.ndarray, float] | None = None

    def _set_var(self) -> None:  # Lava writes Vars in place: drop the cached kernel
        super()._set_var()
        self._plan = None

    def run_spk(self) -> None:
        self.a_out.send(self.a_buf)
        unary = self.num_message_bits.item() == 0
        s_in = self.s_in.recv()
        if unary:
            s_in = s_in.astype(bool)
        groups = int(self.groups[0])
        if self._plan is None and groups > 0 and s_in.shape[-1] == groups * self.weight.shape[-1]:
            self._plan = conv_plan(self.weight, groups)
        mats, wsum = self._plan or (None, float("inf"))
        bound = wsum * (1 if unary else float(np.abs(s_in).max(initial=0)))
        # Outside what a float GEMM reproduces (or Lava's int8 ``groups`` Var wrapped, 128+
        # groups): run the stock code, so that the result is Lava's whatever it is.
        dtype = exact_dtype(bound)
        geometry = (self.kernel_size, self.stride, self.padding, self.dilation)
        if dtype is None:
            a_out = utils.conv(s_in, self.weight, *geometry, self.groups[0])
        else:
            a_out = conv_gemm(s_in, mats, *map(tuple, geometry), dtype).astype(np.int32)
        self.a_buf = utils.signed_clamp(a_out, bits=24)
