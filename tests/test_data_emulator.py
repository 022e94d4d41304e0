"""The generated dataset does not depend on the numpy version (its cache key assumes that)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import tks_lava.data.emulator as emulator
import tks_lava.data.ndigits_generator as ndigits_generator
import tks_lava.data.ndigits_params as ndigits_params

# sha256 of the .bin files the default NDigitsParams() generator writes, computed with numpy
# 1.26.4 on Python 3.11 before numpy 2 was supported. Under numpy 2's promotion rules (NEP 50)
# without the float32 interpolation weights in emulator.render_moving, all four differed (as did
# 4,160 of the 5,100 recordings). A deliberate change of the generator's output must bump
# ndigits_params.GENERATOR_VERSION and update these.
PINNED = {
    "0/image_0001.bin": "ee97c52673dfc235dc793981400baa77063e324bec9584861645b93cb3a9ef10",
    "1/image_0003.bin": "b6798c7de8898cb9106502a061089acf0d6e6e7259c643ac53a60464778d8be2",
    "5/image_0450.bin": "1317bc52d5eba0b8bb36e1146f813f8cee2fdb387b96450a231a80aacb522002",
    "9/image_0510.bin": "0a1391452a0fe32de668517545bff681d8ef5ee0fc145b1fbed20885a6d198ff",
}


def test_generated_recordings_are_byte_identical_to_numpy_1s():
    params = ndigits_params.NDigitsParams()
    assert ndigits_params.GENERATOR_VERSION == 1, "generator version changed: recompute PINNED"
    images, labels = ndigits_generator.load_sources()
    jobs = {f"{j[0]}/image_{j[3]:04d}.bin": j for j in ndigits_generator.plan_jobs(labels, params)}
    ndigits_generator._init_worker(images, params)  # what each worker does, then one job each
    got = {}
    for name in PINNED:
        rel, data, _ = ndigits_generator._run_job(jobs[name])
        assert rel == name
        got[name] = hashlib.sha256(data).hexdigest()
    assert got == PINNED, f"numpy {np.__version__} generates other ndigits bytes"


@pytest.mark.skipif(
    not hasattr(np, "_set_promotion_state"),
    reason="numpy >= 2.2 has only NEP 50 promotion; the pinned bytes above cover it",
)
def test_render_moving_is_the_same_under_numpy_1_and_numpy_2_promotion():
    # numpy 1.24-2.1 can switch between numpy 1's (legacy) and numpy 2's (weak) promotion rules.
    rng = np.random.default_rng(3)
    ink = emulator.upsample(rng.random((8, 8)), 8)
    offsets = emulator.saccade_path(np.arange(0, 300_001, 2000.0), 100_000, 3.0)

    def render(promotion: str) -> np.ndarray:
        state = np._get_promotion_state()
        np._set_promotion_state(promotion)
        try:
            return emulator.render_moving(ink, 8, (34, 34), (17.3, 16.6), 2.75, 0.2, offsets)
        finally:
            np._set_promotion_state(state)

    legacy, weak = render("legacy"), render("weak")
    assert legacy.dtype == weak.dtype == np.float32
    np.testing.assert_array_equal(weak, legacy)
