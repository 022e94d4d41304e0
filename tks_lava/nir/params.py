"""Fixed-point CUBA parameters <-> NIR's continuous-time parameters (pure functions, no torch).

lava-dl's CUBA neuron (and Lava's, bit for bit) steps, with states scaled by 4096::

    u[t] = rtz(u[t-1] * (4096 - iDecay), 12) + 64 * (sum of integer weights of spiking inputs)
    v[t] = rtz(v[t-1] * (4096 - vDecay), 12) + u[t];   spike and v = 0 where v > vThMant << 6

In real numbers (u, v divided by 4096, weights w = integer / 64) this is the forward-Euler step
of NIR's ``CubaLIF`` with time step ``dt``::

    tau_syn dI/dt = -I + w_in * W s        ->  I[t] = (1 - a) I[t-1] + a w_in W s,  a = dt / tau_syn
    tau_mem dv/dt = -v + r I               ->  v[t] = (1 - b) v[t-1] + b r I,       b = dt / tau_mem

so ``tau_syn = dt / a``, ``tau_mem = dt / b``, ``w_in = 1 / a`` and ``r = 1 / b`` make I = u and
v = v exactly, with ``a = iDecay / 4096``, ``b = vDecay / 4096`` and ``v_threshold =
vThMant / 64``. The one difference left is the fixed point itself: the products are truncated
toward zero at 12 fractional bits, which the float recurrence of other simulators does not do.

Going back, a, b, the input gain ``a w_in b r`` and the threshold are read from any NIR
neuron and rounded onto the Loihi grids (:func:`quantize_decay`, :func:`quantize_weights`,
:func:`threshold_mant`); the importer reports how far each moved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Seconds per simulation step written into exported graphs: snnTorch's importer assumes 1e-4,
#: and any dt gives the same network as long as every tau is scaled with it.
DT = 1e-4
#: Integer weight = weight * 64 (SLAYER's ``w_scale``); the weights are even integers.
WEIGHT_SCALE = 64
#: Weight grid step (real units): SLAYER quantises to steps of 2 / 64 ...
WEIGHT_STEP = 2 / WEIGHT_SCALE
#: ... between -256 / 64 and 254 / 64 (8-bit signed mantissa, even).
WEIGHT_MIN, WEIGHT_MAX = -256 / WEIGHT_SCALE, 254 / WEIGHT_SCALE
#: Integer decay = fraction decayed per step * 4096 (0 = no leak, 4096 = no memory).
DECAY_SCALE = 4096
#: vThMant = threshold * 64; the voltage is compared with vThMant << 6.
THRESHOLD_SCALE = 64
#: Loihi's threshold mantissa is 17 bits.
THRESHOLD_MANT_MAX = (1 << 17) - 1
#: Lava's states (u, v, the readout voltage) are the real values times 4096.
STATE_SCALE = 4096


@dataclass(frozen=True)
class Continuous:
    """NIR ``CubaLIF``/``CubaLI`` parameters of one fixed-point CUBA neuron (float64 scalars).

    ``v_threshold`` is None for the readout (a ``CubaLI``: it never spikes, its v is the logit).
    """

    tau_syn: float
    tau_mem: float
    r: float
    w_in: float
    v_threshold: float | None


def cuba_to_nir(i_decay: int, v_decay: int, v_th_mant: int | None, dt: float = DT) -> Continuous:
    """The continuous parameters whose Euler step at ``dt`` is this fixed-point neuron.

    A decay of 0 (no leak) has no finite time constant and is refused (ValueError).
    """
    if not 0 < i_decay <= DECAY_SCALE or not 0 < v_decay <= DECAY_SCALE:
        raise ValueError(
            f"decays must be in 1..{DECAY_SCALE} to have a finite NIR time constant, got "
            f"iDecay {i_decay}, vDecay {v_decay} (0 = no leak = tau infinite)"
        )
    a = i_decay / DECAY_SCALE
    b = v_decay / DECAY_SCALE
    threshold = None if v_th_mant is None else v_th_mant / THRESHOLD_SCALE
    return Continuous(tau_syn=dt / a, tau_mem=dt / b, r=1 / b, w_in=1 / a, v_threshold=threshold)


def euler_factors(
    tau_syn: np.ndarray | float, tau_mem: np.ndarray | float, dt: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(a, b) = (dt / tau_syn, dt / tau_mem)``: the fractions decayed per step (float64)."""
    a = dt / np.asarray(tau_syn, dtype=np.float64)
    b = dt / np.asarray(tau_mem, dtype=np.float64)
    return a, b


def quantize_decay(fraction: float) -> int:
    """The integer decay nearest ``fraction * 4096``; ValueError outside [0, 1] (the Euler
    step would overshoot, tau < dt, or grow, tau < 0)."""
    if not 0.0 <= fraction <= 1.0 + 1e-12:
        raise ValueError(
            f"a decay fraction dt / tau = {fraction:.6g} is outside [0, 1]: tau must be at least "
            "one time step dt (pass a smaller dt or a longer tau)"
        )
    return int(np.clip(np.rint(fraction * DECAY_SCALE), 0, DECAY_SCALE))


def quantize_weights(w: np.ndarray) -> np.ndarray:
    """``w`` rounded to SLAYER's weight grid (steps of 1/32, clipped to [-4, 254/64])."""
    return np.clip(
        np.rint(np.asarray(w, np.float64) / WEIGHT_STEP) * WEIGHT_STEP, WEIGHT_MIN, WEIGHT_MAX
    )


def threshold_mant(threshold: float) -> int:
    """Loihi's threshold mantissa for a real threshold (``round(threshold * 64)``)."""
    mant = int(np.rint(threshold * THRESHOLD_SCALE))
    if not 0 < mant <= THRESHOLD_MANT_MAX:
        raise ValueError(
            f"threshold {threshold:.6g} gives mantissa {mant}, outside 1..{THRESHOLD_MANT_MAX}"
        )
    return mant


def fitting_threshold(thresholds: np.ndarray, peak_weights: np.ndarray) -> float:
    """The largest shared threshold (a multiple of 1/64) at which every neuron, with its weights
    scaled by ``shared / own threshold`` (the same spikes in real arithmetic), keeps its largest
    weight inside the 8-bit grid.

    ``thresholds`` and ``peak_weights`` (largest |weight| into the neuron) are per neuron.
    """
    thresholds = np.asarray(thresholds, np.float64)
    peak = np.asarray(peak_weights, np.float64)
    live = peak > 0
    if not live.any():
        raise ValueError("every weight is zero: nothing to scale")
    limit = float(np.min(thresholds[live] * WEIGHT_MAX / peak[live]))
    mant = min(int(np.floor(limit * THRESHOLD_SCALE)), THRESHOLD_MANT_MAX)
    if mant < 1:
        raise ValueError(
            f"weights up to {peak.max():.4g} against thresholds near {thresholds.min():.4g} need a "
            f"threshold below 1/64 to fit the 8-bit weight grid (+-{WEIGHT_MAX})"
        )
    return mant / THRESHOLD_SCALE
