"""The exact CUBA kernels are bit-identical to SLAYER's CPU loop, and the routing is reversible.

Every case is checked against lava-dl's own ``_li_dynamics_fwd`` / ``_li_dynamics_bwd`` (the
reference Lava reproduces), for both backends (numba, and the torch loop that runs on GPUs), with
fixed-seed random inputs and hand-made edges: threshold ties, resets, negative values and states
past float32's 24-bit mantissa. Equality is ``torch.equal`` on the values and, where a sign of
zero could differ, on the bits.
"""

from __future__ import annotations

import copy
import json
import pickle
import warnings

import pytest
import torch
from lava.lib.dl.slayer.neuron import cuba
from lava.lib.dl.slayer.neuron.dynamics import leaky_integrator as slayer_li

from tks_lava.model.kernels import (
    NEURON_KERNELS,
    cuba_numba,
    describe,
    integrator,
    resolve_kernels,
    set_neuron_kernels,
)
from tks_lava.model.network import build_model, make_config

BACKENDS = ("numba", "torch")
SCALE = 4096  # CUBA's state scale (s_scale)
EPS = 0.01 / SCALE  # SLAYER's threshold offset that makes Loihi's strict comparison


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(_bits(a), _bits(b))


def _check(x, decay, state, threshold, backend, learn_decay=False):  # noqa: ANN001, ANN202
    """Ours against SLAYER's forward and backward on one case; returns the output."""
    ref = slayer_li._li_dynamics_fwd(x, decay, state, threshold, SCALE, dtype=torch.int64)
    xg = x.clone().requires_grad_()
    dg = decay.clone().requires_grad_(learn_decay)
    out = integrator.exact_dynamics(xg, dg, state, SCALE, threshold, backend)
    assert _same(out, ref), f"forward differs at {(out != ref).nonzero()[:5].tolist()}"
    grad = torch.randn(x.shape, generator=torch.Generator().manual_seed(7))
    out.backward(grad)
    ref_gi, ref_gd = slayer_li._li_dynamics_bwd(grad, ref, decay)
    assert _same(xg.grad, ref_gi)
    if learn_decay:
        assert _same(dg.grad, ref_gd)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("threshold", [None, 1.25 + EPS, 0.5 + EPS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_cases_match_slayer(backend, threshold, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 4, 5, 6, 9, generator=g) * 1.5
    x[torch.rand(x.shape, generator=g) < 0.3] = 0  # sparse, like synaptic input of spikes
    decay = torch.round(torch.rand(1, generator=g) * 4096)
    state = torch.randn(3, 4, 5, 6, generator=g) * (seed > 0)
    th = -1 if threshold is None else threshold
    _check(x, decay, state, th, backend, learn_decay=seed == 2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_per_channel_decays_broadcast_like_slayer(backend):
    """SLAYER broadcasts a (K,) decay against the state's last axis; so must we. (Its decay
    gradient is per channel, which fits only (N, C, T) neurons: learn decays only there.)"""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(2, 5, 7, generator=g) * 2
    decay = torch.round(torch.rand(5, generator=g) * 4096)
    _check(x, decay, torch.zeros(2, 5), 1.25 + EPS, backend, learn_decay=True)
    x4 = torch.randn(2, 3, 4, 5, 6, generator=g)
    _check(x4, decay, torch.zeros(2, 3, 4, 5), 0.75 + EPS, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_threshold_ties_fire_only_without_the_offset(backend):
    # 1.25 * 4096 = 5120: an input of exactly 1.25 reaches the threshold with no decay
    x = torch.tensor([[1.25, 0.0, 1.25, 1.25 - 1 / SCALE, 1 / SCALE, -1.25, 1.25]])
    decay = torch.tensor([4096.0])  # full decay: each step is its own input
    no_eps = _check(x, decay, torch.zeros(1), 1.25, backend)
    with_eps = _check(x, decay, torch.zeros(1), 1.25 + EPS, backend)
    assert no_eps.tolist() == with_eps.tolist() == x.tolist()  # outputs are pre-reset values
    # memory makes the reset visible: with no decay a tie fires and resets only without the eps
    keep = torch.tensor([0.0])
    tie = torch.tensor([[1.25, 0.0, 0.5]])
    assert _check(tie, keep, torch.zeros(1), 1.25, backend).tolist() == [[1.25, 0.0, 0.5]]
    assert _check(tie, keep, torch.zeros(1), 1.25 + EPS, backend).tolist() == [[1.25, 1.25, 1.75]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_resets_negative_values_and_rounding_toward_zero(backend):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(64, 40, generator=g) * 3 - 0.5  # mostly negative drive, frequent resets
    x[:, ::7] = 2.0  # forced spikes
    for decay in (0.0, 1.0, 1023.0, 4095.0, 4096.0):
        state = torch.randn(64, generator=g) * 2  # negative states round toward zero
        _check(x, torch.tensor([decay]), state, 1.25 + EPS, backend)
    # hand-computed, in units of 1/4096: -3 * 4095 / 4096 = -2.9993 rounds toward zero to -2
    # (an arithmetic shift would give -3); step 2: rtz(-2 * 4095 / 4096) + 3 = -1 + 3 = 2;
    # step 3: rtz(2 * 4095 / 4096) = 1
    odd = torch.tensor([[-3 / SCALE, 0.0, 3 / SCALE, 0.0]])
    out = _check(odd, torch.tensor([1.0]), torch.zeros(1), -1, backend)
    assert (out * SCALE).tolist() == [[-3.0, -2.0, 2.0, 1.0]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_large_states_round_through_float32_as_slayer_does(backend):
    """Past 2**24 the float32 output, the reset comparison and the voltage's input all round."""
    g = torch.Generator().manual_seed(9)
    x = (torch.rand(16, 12, generator=g) * 3e5).round() + 0.37  # 4096 * x ~ 2**30
    x[:, 5] = -x[:, 5]
    state = torch.full((16,), 2.0**28) + torch.arange(16) * 3
    for th in (-1, 3.0e5 + EPS, 2.0**21 + 0.5 + EPS):  # th * 4096 past 2**24: ties round
        out = _check(x, torch.tensor([7.0]), state, th, backend)
        assert out.abs().max() * SCALE > 2**33
    # a state of 2**24 + 1 reads as 2**24 in float32, so it fires at a threshold of 2**24 + 0.5
    x1 = torch.tensor([[(2.0**24 + 1) / SCALE, 0.0]])
    out = _check(x1, torch.tensor([0.0]), torch.zeros(1), (2.0**24 + 0.5) / SCALE, backend)
    assert out[0, 1] == 0  # it fired and was reset


@pytest.mark.parametrize("backend", BACKENDS)
def test_single_step_and_scalar_state(backend):
    x = torch.tensor([[[0.7], [-2.0], [1.3]]])
    _check(x, torch.tensor([100.0]), torch.zeros(1), 1.25 + EPS, backend)


def test_row_chunks_over_threads_give_the_same_bits():
    g = torch.Generator().manual_seed(11)
    x = torch.randn(8, 64, 20, 10, generator=g) * 2  # above MIN_PARALLEL_WORK
    assert x.numel() >= cuba_numba.MIN_PARALLEL_WORK
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = integrator.exact_dynamics(x, torch.tensor([300.0]), torch.zeros(1), SCALE, 1.25)
        torch.set_num_threads(3)
        three = integrator.exact_dynamics(x, torch.tensor([300.0]), torch.zeros(1), SCALE, 1.25)
    finally:
        torch.set_num_threads(threads)
    assert _same(one, three)


def test_read_only_install_compiles_without_cache():
    """numba refuses cache=True where it finds no writable cache folder; we compile in memory."""
    namespace: dict = {}
    exec("def f(a):\n    return a + 1\n", namespace)  # no source file: no cache locator
    assert cuba_numba._jit(namespace["f"])(41) == 42


def _neuron(**kw) -> cuba.Neuron:  # noqa: ANN003
    params = {"threshold": 1.25, "current_decay": 0.25, "voltage_decay": 0.03, "tau_grad": 0.03}
    return cuba.Neuron(**{**params, "scale_grad": 3.0, **kw})


@pytest.mark.parametrize("kw", [{}, {"requires_grad": True}, {"persistent_state": True}])
def test_routed_neuron_equals_slayers_spikes_states_and_gradients(kw):
    g = torch.Generator().manual_seed(13)
    x = torch.randn(4, 6, 5, 5, 10, generator=g) * 1.2
    results = []
    for exact in (False, True):
        neuron = _neuron(**kw)
        integrator.route(neuron, exact)
        xg = x.clone().requires_grad_()
        steps = [neuron(xg[..., :5]), neuron(xg[..., 5:])]  # twice: persistent state carries
        current, voltage = neuron.dynamics(xg.detach())
        torch.cat(steps, -1).mul(torch.linspace(-1, 1, 10)).sum().backward()
        grads = [xg.grad] + [p.grad for p in neuron.parameters() if p.grad is not None]
        results.append([*steps, current, voltage, neuron.voltage_state, *grads])
    assert len(results[0]) == len(results[1])
    for ours, ref in zip(results[1], results[0], strict=True):
        assert _same(ours, ref)
    assert results[0][0].sum() > 0  # it spiked


def test_network_routing_is_exact_reversible_and_survives_copy_and_pickle():
    torch.manual_seed(0)
    model = build_model(make_config("tiny_snn", (2, 8, 8), 5))
    x = (torch.rand(3, 2, 8, 8, 6, generator=torch.Generator().manual_seed(1)) < 0.5).float()
    with torch.no_grad():  # weight norm's weight stays a leaf, so the model can be deep-copied
        ref = model(x)
        set_neuron_kernels(model, "exact")
        assert integrator.routed_kernels(model) == "exact"
        assert torch.equal(model(x), ref)
        for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert integrator.routed_kernels(clone) == "exact" and torch.equal(clone(x), ref)
        set_neuron_kernels(model, "slayer")
        assert integrator.routed_kernels(model) == "slayer"
        assert all(type(m) is cuba.Neuron for m in model.modules() if isinstance(m, cuba.Neuron))
        assert torch.equal(model(x), ref)


def test_network_gradients_are_bitwise_equal_with_exact_kernels():
    torch.manual_seed(2)
    model = build_model(make_config("small_snn", (2, 12, 12), 4))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("weight_g"):
                p.mul_(4.0)
    x = (torch.rand(2, 2, 12, 12, 7, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    grads = []
    for kernels in ("slayer", "exact"):
        set_neuron_kernels(model, kernels)
        model.zero_grad()
        out = model(x)
        out.mul(torch.linspace(-1, 1, out.numel()).reshape(out.shape)).sum().backward()
        grads.append([out.detach()] + [p.grad for p in model.parameters() if p.grad is not None])
    assert grads[0][0].abs().sum() > 0 and len(grads[0]) == len(grads[1]) > 4
    for ours, ref in zip(grads[1], grads[0], strict=True):
        assert _same(ours, ref)


def test_torch_backend_routes_whole_networks_too():
    torch.manual_seed(4)
    model = build_model(make_config("tiny_snn", (2, 8, 8), 5))
    x = (torch.rand(2, 2, 8, 8, 5, generator=torch.Generator().manual_seed(5)) < 0.5).float()
    ref = model(x)
    set_neuron_kernels(model, "exact")
    with integrator.use_backend("torch"):
        assert torch.equal(model(x), ref)


def test_resolve_kernels_policy():
    assert NEURON_KERNELS == ("exact", "slayer", "slayer-cuda")
    assert resolve_kernels("exact", "cpu") == "exact"
    assert resolve_kernels("slayer", "cpu") == "slayer"
    with pytest.warns(RuntimeWarning, match="CUDA devices only, not on cpu; using the exact"):
        assert resolve_kernels("slayer-cuda", "cpu") == "exact"
    with pytest.raises(ValueError, match="'slayer' are SLAYER's CPU loop .* do not run on cuda"):
        resolve_kernels("slayer", "cuda")
    with pytest.raises(ValueError, match="unknown neuron kernels 'fast'; choose one of exact,"):
        resolve_kernels("fast", "cpu")
    with pytest.raises(ValueError, match="unknown neuron kernels"):
        set_neuron_kernels(torch.nn.Linear(1, 1), "fast")


def test_describe_names_device_and_kernels():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = describe("exact", "cpu")
    assert line.startswith("cpu (") and f"exact CUBA kernels ({cuba_numba.version()})" in line
    assert describe("slayer", torch.device("cpu")).endswith("SLAYER's CUBA loop (the reference)")


def test_gpu_check_dry_run_records_every_step_even_after_a_failure(tmp_path, monkeypatch):
    from benchmarks import gpu_check

    def broken(plan):  # noqa: ANN001, ANN202
        raise RuntimeError("no such GPU")

    monkeypatch.setattr(gpu_check, "model_parity", broken)
    out = tmp_path / "gpu.json"
    steps = ["environment", "model_parity", "kernel_parity"]
    report = gpu_check.run_steps(gpu_check.Plan.dry_run(), out, only=steps)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert list(report["steps"]) == ["environment", "kernel_parity", "model_parity"]
    failed = report["steps"]["model_parity"]
    assert failed["ok"] is False and failed["error"] == "RuntimeError: no such GPU"
    assert report["steps"]["kernel_parity"]["ok"] is True  # ran after the failure
    assert report["steps"]["environment"]["numba"] == cuba_numba.version()


def test_slim_wheel_drops_tests_and_weights_with_their_record_lines(tmp_path):
    import zipfile

    from benchmarks.gpu_check import slim_wheel

    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    names = ["pkg/__init__.py", "pkg/models/__init__.py", "pkg/models/net.pt", "tests/t.py"]
    record = "".join(f"{n},sha256=x,1\n" for n in names) + "pkg-1.0.dist-info/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as z:
        for n in names:
            z.writestr(n, "x" * 1000)
        z.writestr("pkg-1.0.dist-info/RECORD", record)
    assert slim_wheel(wheel) > 0
    with zipfile.ZipFile(wheel) as z:
        kept = sorted(z.namelist())
        rows = z.read("pkg-1.0.dist-info/RECORD").decode().split()
    assert kept == ["pkg-1.0.dist-info/RECORD", "pkg/__init__.py", "pkg/models/__init__.py"]
    assert [r.split(",")[0] for r in rows] == [
        "pkg/__init__.py",
        "pkg/models/__init__.py",
        "pkg-1.0.dist-info/RECORD",
    ]
