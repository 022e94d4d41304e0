"""The Lava fixes (Python 3.11+, numpy >= 2.1): scoped, no site-packages edits, real runs work."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tks_lava import compat

SOURCE = textwrap.dedent(
    '''
    """docstring"""
    from __future__ import annotations
    from dataclasses import dataclass

    @dataclass
    class Enc:
        v: int = 0

    @dataclass
    class Holder:
        a: Enc = Enc()
        b: int = 3
        c: Enc = Enc(v=1)   # has arguments: left alone (it would still fail on 3.11)
    '''
)


def test_patch_rewrites_only_zero_arg_dataclass_defaults():
    code, rewrites = compat.patch_source(SOURCE.replace("c: Enc = Enc(v=1)", "c: int = 1"))
    assert rewrites == 1
    ns: dict = {}
    exec(code, ns)
    h1, h2 = ns["Holder"](), ns["Holder"]()
    assert h1.a == ns["Enc"](0) and h1.a is not h2.a and h1.b == 3


@pytest.mark.skipif(sys.version_info < (3, 11), reason="the fix is a no-op before 3.11")
def test_unpatched_lava_source_fails_and_patched_imports():
    import lava.magma.compiler.var_model as var_model  # through tks_lava's import hook

    # The installed file itself is untouched: executing it unpatched still fails on 3.11.
    source = Path(var_model.__file__).read_text()
    with pytest.raises(ValueError, match="mutable default"):
        exec(compile(source, var_model.__file__, "exec"), {"__name__": var_model.__name__})
    fields = {f.name: f for f in dataclasses.fields(var_model.CoreEncoder)}
    assert fields["x"].default_factory is var_model.ByteEncoder
    assert var_model.CoreEncoder().x is not var_model.CoreEncoder().x


def test_install_is_noop_before_311(monkeypatch):
    fresh = [f for f in compat.sys.meta_path if not isinstance(f, compat._VarModelFinder)]
    monkeypatch.setattr(compat.sys, "meta_path", fresh)
    monkeypatch.setattr(compat.sys, "version_info", (3, 10, 13))
    assert compat.install() is False
    (finder,) = [f for f in compat.sys.meta_path if isinstance(f, compat._VarModelFinder)]
    # the version-independent fixes remain: multiprocessing start method, numpy's reshape
    # keyword, and lava-dl's import-time print
    assert set(finder.loaders) == {compat.MP_TARGET, compat.PORTS_TARGET, compat.PROPHESEE_TARGET}


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def test_lava_imports_after_multiprocessing_was_used():
    # tqdm, DataLoader workers etc. fix the start method before Lava's import sets it again.
    out = _run(
        "import multiprocessing as mp; mp.RLock(); import tks_lava; "
        "import lava.magma.runtime.message_infrastructure.multiprocessing; "
        "print(mp.get_start_method())"
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "fork"


def test_conflicting_start_method_is_explained():
    out = _run(
        "import multiprocessing as mp; mp.set_start_method('spawn'); import tks_lava; "
        "import lava.magma.runtime.message_infrastructure.multiprocessing"
    )
    assert out.returncode != 0
    assert "Lava needs the multiprocessing start method 'fork', but 'spawn'" in out.stderr


def test_fresh_interpreter_imports_tks_lava_then_netx():
    out = _run("import tks_lava, lava.lib.dl.netx, lava.lib.dl.slayer; print('ok')")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().endswith("ok")


# --------------------------------------------------------------------------- numpy >= 2.1
RESHAPE_SOURCE = textwrap.dedent(
    """
    import functools as ft
    from functools import partial
    import numpy as np

    fwd = ft.partial(np.reshape, newshape=(3, 2))
    bwd = partial(np.reshape, newshape=(2, 3))
    direct = lambda a: np.reshape(a, newshape=(6, 1))
    untouched = dict(newshape=(1,))  # not a reshape call: left alone
    """
)


def test_reshape_patch_renames_only_np_reshape_newshape():
    code, rewrites = compat.patch_reshape_source(RESHAPE_SOURCE)
    assert rewrites == 3
    ns: dict = {}
    exec(code, ns)
    assert ns["fwd"].keywords == {"shape": (3, 2)} and ns["bwd"].keywords == {"shape": (2, 3)}
    assert ns["untouched"] == {"newshape": (1,)}
    if compat.numpy_renamed_newshape():  # the renamed keyword only runs where numpy has it
        assert ns["direct"](np.arange(6)).shape == (6, 1)
        assert ns["fwd"](ns["bwd"](np.arange(6))).shape == (3, 2)


def test_installed_reshape_port_has_exactly_the_two_uses_the_fix_renames():
    import importlib.util

    spec = importlib.util.find_spec(compat.PORTS_TARGET)
    source = Path(spec.origin).read_text()
    _, rewrites = compat.patch_reshape_source(source, spec.origin)
    assert rewrites == 2, "Lava's ReshapePort changed: check tks_lava.compat's reshape fix"


def test_reshape_port_round_trip_in_a_lava_run(no_leftover_children):
    """A (2, 3) source reshaped to (6,) on its way to a sink, in a real Lava run; and back."""
    from lava.magma.core.process.ports.ports import ReshapePort
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source

    from tks_lava.deploy.session import LavaSession

    steps = 3
    data = np.arange(2 * 3 * steps, dtype=np.int32).reshape(2, 3, steps) % 5
    src = Source(data=data)
    sink = Sink(shape=(6,), buffer=steps)
    reshaped = src.s_out.reshape((6,))
    assert isinstance(reshaped, ReshapePort)
    # numpy >= 2.1 takes shape=, numpy < 2.1 only newshape=; the hook picks by the numpy present
    keyword = "shape" if compat.numpy_renamed_newshape() else "newshape"
    assert set(reshaped.get_transform_func_fwd().keywords) == {keyword}
    reshaped.connect(sink.a_in)
    with LavaSession(sink, Loihi2SimCfg(select_tag="fixed_pt")) as session:
        session.run(steps)
        got = sink.data.get()
    np.testing.assert_array_equal(got, data.reshape(6, steps))
    back = reshaped.get_transform_func_bwd()(got[:, 0])
    np.testing.assert_array_equal(back, data[:, :, 0])


def test_importing_and_building_a_model_is_quiet():
    """lava-dl's Prophesee notice, torch's 'No CUDA runtime' log and the weight_norm
    FutureWarning are silenced at their source; a warning of our own still shows."""
    code = textwrap.dedent(
        """
        import warnings
        import tks_lava
        from tks_lava.model.network import build_model, make_config
        from lava.lib.dl import slayer, netx
        build_model(make_config("tiny_snn", (2, 34, 34), 3))
        warnings.warn("still visible", FutureWarning)
        print("done")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "done\n"
    assert "No CUDA runtime" not in out.stderr and "weight_norm" not in out.stderr
    assert "still visible" in out.stderr
