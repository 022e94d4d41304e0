"""NIR out and in (tks_lava.nir): parameter mapping by hand, node mapping, the bit-exact round
trip (pools at odd sizes too), snnTorch against the float reference, refused graphs, and a graph
written by snnTorch's exporter run in Lava."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

import tks_lava  # noqa: F401  (Lava fixes first)
from tests.test_architectures import POOL_NET  # at 2 x 7 x 9 both pools see odd sizes
from tks_lava.model.export import export_netx
from tks_lava.model.network import build_model, make_config
from tks_lava.nir import params
from tks_lava.nir.convert import build_from_plan, card_for_nir, import_nir, plan_graph
from tks_lava.nir.export import graph_from_model, write_graph
from tks_lava.nir.graph import NirImportError, read_layers
from tks_lava.nir.simulate import SNNTORCH_MISSING, reference_logits, snntorch_logits

nir = pytest.importorskip("nir")

needs_snntorch = pytest.mark.skipif(bool(SNNTORCH_MISSING), reason=SNNTORCH_MISSING)


def _model(spec, shape, classes=3, gain=6.0, seed=0):
    torch.manual_seed(seed)
    return build_model(make_config(spec, shape, classes, weight_scale=gain)).eval()


def _spikes(shape, n=4, t=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, *shape, t, generator=g) < 0.4).float()


# ----------------------------------------------------------------------------- params
def test_cuba_to_nir_by_hand():
    c = params.cuba_to_nir(1024, 123, 80, dt=1e-4)
    assert c.tau_syn == pytest.approx(4e-4)  # 1e-4 / (1024 / 4096)
    assert c.tau_mem == pytest.approx(1e-4 * 4096 / 123)  # 3.33e-3 s
    assert c.w_in == 4.0 and c.r == pytest.approx(4096 / 123)
    assert c.v_threshold == 1.25  # 80 / 64
    assert params.cuba_to_nir(4096, 4096, None).v_threshold is None
    with pytest.raises(ValueError, match="finite NIR time constant"):
        params.cuba_to_nir(0, 123, 80)


def test_quantizers_by_hand():
    assert params.quantize_decay(0.03) == 123  # 0.03 * 4096 = 122.88
    assert params.quantize_decay(0.25) == 1024
    with pytest.raises(ValueError, match="at least one time step"):
        params.quantize_decay(1.5)
    np.testing.assert_array_equal(
        params.quantize_weights(np.array([0.1, 5.0, -5.0, -0.02])), [3 / 32, 254 / 64, -4, -1 / 32]
    )
    assert params.threshold_mant(1.25) == 80
    # neuron 1 (threshold 1) has a weight of 8: the shared threshold may be at most
    # 1 * 3.96875 / 8 = 0.496 -> 31/64; neuron 2 allows 2 * 3.96875 / 1
    assert params.fitting_threshold(np.array([1.0, 2.0]), np.array([8.0, 1.0])) == 31 / 64
    a, b = params.euler_factors(4e-4, 1e-3, 1e-4)
    assert (float(a), float(b)) == pytest.approx((0.25, 0.1))


# ----------------------------------------------------------------------------- export
def test_node_mapping_with_parameters_by_hand():
    model = _model(POOL_NET, (2, 8, 8))  # even sizes: both pools are SumPool2d
    graph = graph_from_model(model, dt=1e-4)
    chain = [type(graph.nodes[dst]).__name__ for _, dst in graph.edges]
    assert chain == [
        "Conv2d",
        "CubaLIF",
        "SumPool2d",
        "CubaLIF",
        "Conv2d",
        "CubaLIF",
        "SumPool2d",
        "CubaLIF",
        "Flatten",
        "Linear",
        "CubaLIF",
        "Linear",
        "CubaLI",
        "Output",
    ]
    conv, lif = graph.nodes["conv_0"], graph.nodes["lif_0"]
    syn = model.blocks[0].synapse
    ints = syn.pre_hook_fx(syn.weight, descale=True).detach().numpy()[..., 0]
    np.testing.assert_array_equal(conv.weight * 64, ints)
    assert not conv.bias.any() and tuple(conv.padding) == (1, 1)
    # tutorial neuron: current decay 0.25 -> 1024, voltage decay 0.03 -> 123, threshold 1.25
    assert lif.metadata == {"i_decay": 1024, "v_decay": 123, "v_th_mant": 80, "delay_steps": 1}
    assert lif.tau_syn.shape == (4, 8, 8) and lif.tau_syn.dtype == np.float64
    np.testing.assert_array_equal(lif.tau_syn, 1e-4 / 0.25)
    np.testing.assert_array_equal(lif.w_in, 4.0)
    np.testing.assert_array_equal(lif.v_threshold, 1.25)
    pool_lif = graph.nodes["lif_1"]  # the pool's weight (1.0) rides in w_in: 1.0 / a
    np.testing.assert_array_equal(pool_lif.w_in, 4.0)
    readout = graph.nodes["readout_li"]
    np.testing.assert_array_equal(readout.tau_syn, 1e-4)
    assert readout.metadata["delay_steps"] == 0
    assert graph.metadata["latency"] == model.latency == 5
    assert graph.nodes["flatten_4"].start_dim == -3


def test_odd_pool_is_written_as_its_diagonal_conv():
    model = _model(POOL_NET, (2, 7, 9))
    graph = graph_from_model(model)
    pool = graph.nodes["pool_1"]
    assert type(pool).__name__ == "Conv2d" and pool.metadata["tks_lava_kind"] == "pool"
    assert pool.weight.shape == (4, 4, 3, 3) and tuple(pool.padding) == (1, 1)
    assert [lay.kind for lay in read_layers(graph, 1e-4)][:4] == ["conv", "pool", "conv", "pool"]


def _netx_datasets(path):
    out = {}
    with h5py.File(path, "r") as h:
        h.visititems(lambda k, v: out.update({k: v[()]}) if isinstance(v, h5py.Dataset) else None)
    return out


@pytest.mark.parametrize("shape", [(2, 7, 9), (2, 8, 8), (2, 11, 5)])
def test_round_trip_gives_the_same_netx_file_and_logits(tmp_path, shape):
    model = _model(POOL_NET, shape)
    original = export_netx(model, tmp_path / "original.net")
    card = make_card(model, original)
    graph_path = write_graph(graph_from_model(model, card), tmp_path / "net.nir")
    card_path, p = import_nir(graph_path, tmp_path / "imported")
    assert p.report.exact and p.config.layers == model.config.layers
    a, b = _netx_datasets(original), _netx_datasets(card_path.with_suffix(".net"))
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    x = _spikes(shape)
    with torch.no_grad():
        np.testing.assert_array_equal(build_from_plan(p)(x), model(x))


def make_card(model, net_path):
    """A minimal card for a test model (the graph carries it through the round trip)."""
    from tks_lava.data.frames import FrameConfig
    from tks_lava.io import sha256_file
    from tks_lava.model.card import ModelCard

    return ModelCard(
        net_file=net_path.name,
        sha256=sha256_file(net_path),
        weights_file="network.pt",
        dataset="ndigits",
        framing=FrameConfig(timesteps=6),
        input_shape=model.config.input_shape,
        classes=["a", "b", "c"],
        latency=model.latency,
        model_config=model.config,
        method="tks",
        hyperparameters={},
        selection={"rule": "last", "epoch": 1},
        torch_accuracy={},
    )


def test_reference_in_fixed_point_equals_slayer():
    model = _model(POOL_NET, (2, 7, 9))
    x = _spikes((2, 7, 9), n=6, t=8)
    logits, counts = reference_logits(graph_from_model(model), x, fixed_point=True)
    with torch.no_grad():
        expected = model(x).numpy()
    assert np.abs(expected).max() > 1 and all(c.sum() > 0 for c in counts)
    np.testing.assert_array_equal(logits, expected)


@needs_snntorch
def test_snntorch_runs_the_exported_graph_like_the_float_reference():
    model = _model("tiny_snn", (2, 10, 10), classes=4, gain=8.0)
    graph = graph_from_model(model)
    x = _spikes((2, 10, 10), n=8, t=6)
    ours, _ = reference_logits(graph, x, fixed_point=False)
    theirs = snntorch_logits(graph, x)
    assert np.abs(ours).max() > 0
    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    with torch.no_grad():
        lava = model(x).numpy()  # SLAYER = Lava bit for bit
    assert (theirs.argmax(1) == lava.argmax(1)).mean() > 0.8


# ----------------------------------------------------------------------------- refusals
def _lif(n, **kw):
    p = dict(
        tau_syn=np.full(n, 4e-4),
        tau_mem=np.full(n, 1e-3),
        r=np.full(n, 10.0),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        w_in=np.full(n, 4.0),
    )
    p.update(kw)
    return nir.CubaLIF(**p)


def _chain(*nodes, edges=None, n_in=3):
    named = {"input": nir.Input(input_type={"input": np.array([n_in, 1, 1])})}
    named.update({f"n{i}": node for i, node in enumerate(nodes)})
    named["output"] = nir.Output(output_type={"output": np.array([2])})
    names = list(named)
    edges = edges or list(zip(names[:-1], names[1:], strict=True))
    return nir.NIRGraph(nodes=named, edges=edges, type_check=False)


def _flat(**lif):
    return (
        nir.Flatten(input_type={"input": np.array([3, 1, 1])}, start_dim=-3),
        nir.Linear(weight=np.ones((2, 3)) / 4),
        _lif(2, **lif),
    )


@pytest.mark.parametrize(
    ("graph", "message"),
    [
        (
            lambda: _chain(
                *_flat(),
                edges=[("input", "n0"), ("n0", "n1"), ("n1", "n2"), ("n2", "n1"), ("n2", "output")],
            ),
            "recurrent edge",
        ),
        (
            lambda: _chain(
                nir.Flatten(input_type={"input": np.array([3, 1, 1])}, start_dim=-3), _lif(3)
            ),
            "without a synapse",
        ),
        (lambda: _chain(nir.Delay(delay=np.ones(3))), "no tks_lava block"),
        (
            lambda: _chain(
                nir.SumPool2d(
                    kernel_size=np.array([2, 2]), stride=np.array([1, 1]), padding=np.array([0, 0])
                )
            ),
            "do not overlap",
        ),
        (lambda: _chain(*_flat(v_leak=np.full(2, 0.1))), "non-zero v_leak"),
        (lambda: _chain(*_flat(tau_syn=np.array([4e-4, 5e-4]))), "share one decay"),
        (
            lambda: _chain(
                nir.Flatten(input_type={"input": np.array([3, 1, 1])}, start_dim=-3),
                nir.Affine(weight=np.ones((2, 3)), bias=np.ones(2)),
                _lif(2),
            ),
            "non-zero bias",
        ),
        (
            lambda: _chain(
                *_flat(),
                nir.Linear(weight=np.ones((2, 2))),
                nir.LI(tau=np.full(2, 1e-3), r=np.ones(2), v_leak=np.zeros(2)),
            ),
            "readout with memory",
        ),
    ],
    ids=[
        "recurrent",
        "lif-without-synapse",
        "delay",
        "overlapping-pool",
        "leak",
        "per-neuron-tau",
        "bias",
        "leaky-readout",
    ],
)
def test_unsupported_graphs_are_refused_with_the_node(graph, message):
    with pytest.raises(NirImportError, match=message):
        read_layers(graph(), 1e-4)


def test_odd_sum_pool_and_differing_decays_are_refused():
    pool = nir.SumPool2d(
        kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])
    )
    g = _chain(pool, n_in=3)
    g.nodes["input"] = nir.Input(input_type={"input": np.array([1, 5, 4])})
    with pytest.raises(NirImportError, match="drops the last"):
        read_layers(g, 1e-4)
    two = _chain(*_flat(), nir.Linear(weight=np.ones((2, 2))), _lif(2, tau_syn=np.full(2, 2e-4)))
    with pytest.raises(NirImportError, match="different decays"):
        plan_graph(two)


def test_exact_refuses_what_needs_rounding_and_a_foreign_graph_needs_a_dataset(tmp_path):
    g = _chain(*_flat(tau_mem=np.full(2, 3e-4)))  # dt / tau = 1/3: not k/4096
    assert not plan_graph(g).report.exact
    with pytest.raises(NirImportError, match="not exactly representable"):
        plan_graph(g, exact=True)
    path = write_graph(g, tmp_path / "foreign.nir")
    with pytest.raises(NirImportError, match="--dataset"):
        import_nir(path, tmp_path / "out")


# ----------------------------------------------------------------------------- foreign graph
def _snntorch_graph():
    """A graph from snnTorch's exporter: conv -> Synaptic -> flatten -> linear, parameters on
    Loihi's grids (alpha 0.75, beta 0.875, weights k/32), per-neuron tensors (snnTorch's export
    of scalar parameters breaks NIR's type inference)."""
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(3)
    conv = torch.nn.Conv2d(2, 4, 3, stride=2, padding=1, bias=False)
    linear = torch.nn.Linear(4 * 5 * 5, 3, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.randint(-16, 48, conv.weight.shape) / 32)
        linear.weight.copy_(torch.randint(-32, 33, linear.weight.shape) / 32)
    shape = (4, 5, 5)
    lif = snn.Synaptic(
        alpha=torch.full(shape, 0.75),
        beta=torch.full(shape, 0.875),
        threshold=torch.full(shape, 1.0),
        init_hidden=True,
        reset_mechanism="zero",
    )
    net = torch.nn.Sequential(conv, lif, torch.nn.Flatten(), linear)
    return export_to_nir(net, torch.zeros(1, 2, 10, 10), ignore_dims=[0])


@needs_snntorch
def test_graph_from_snntorch_exporter_maps_exactly(tmp_path):
    graph = _snntorch_graph()
    p = plan_graph(graph)
    assert p.report.exact, p.report.text()  # float32 taus round back onto k/4096
    assert p.config.neuron["current_decay"] == 0.25 and p.config.neuron["voltage_decay"] == 0.125
    x = _spikes((2, 10, 10), n=6, t=8, seed=4)
    fixed, _ = reference_logits(graph, x, fixed_point=True)
    with torch.no_grad():
        np.testing.assert_array_equal(build_from_plan(p)(x).numpy(), fixed)
    theirs = snntorch_logits(graph, x)
    assert np.abs(theirs).max() > 0
    assert (theirs.argmax(1) == fixed.argmax(1)).mean() > 0.8


@needs_snntorch
@pytest.mark.slow
def test_graph_from_snntorch_runs_in_lava(tmp_path, no_leftover_children):
    from tks_lava.deploy.window import run_lava
    from tks_lava.model.card import ModelCard

    path = write_graph(_snntorch_graph(), tmp_path / "snntorch.nir")
    card_path = card_for_nir(path, dataset="ndigits", cache_dir=tmp_path, log=lambda _: None)
    card = ModelCard.load(card_path)
    assert card.method == "nir" and card.input_shape == (2, 10, 10)
    x = _spikes((2, 10, 10), n=4, t=6, seed=5)
    lava = run_lava(card.files(card_path)["net"], x, progress=False).logits
    fixed, _ = reference_logits(nir.read(str(path)), x, fixed_point=True)
    assert np.abs(fixed).max() > 0
    np.testing.assert_array_equal(lava, fixed)
    assert card_for_nir(path, dataset="ndigits", cache_dir=tmp_path) == card_path  # cached


def test_cli_check_prints_the_mapping_and_errors_are_one_line(tmp_path, capsys):
    from tks_lava.nir.__main__ import main

    path = write_graph(
        graph_from_model(_model("tiny_snn", (2, 10, 10), classes=4)), tmp_path / "t.nir"
    )
    assert main(["check", str(path), "--exact"]) == 0
    out = capsys.readouterr().out
    assert "conv     conv_0 + lif_0" in out and "(exact)" in out
    assert main(["check", str(tmp_path / "missing.nir")]) == 2
    assert "NIR file not found" in capsys.readouterr().err
