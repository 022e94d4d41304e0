"""ndigits, the dataset that generates itself: the generator, its manifest, the spec's
"generated" entry point (``prepare``) and the command line that makes it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tks_lava.data import (
    FrameDataset,
    NDigitsParams,
    aer,
    balanced_indices,
    generate_ndigits,
    get_spec,
)
from tks_lava.data.cli import main as cli_main

TINY = NDigitsParams(classes=(0, 1, 2), images_per_class=10, variants_per_image=1)


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing in these tests may touch ~/.cache: point the default cache at tmp."""
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("TKS_LAVA_DATA", raising=False)


@pytest.fixture(scope="module")
def tiny_ndigits(tmp_path_factory) -> Path:
    return generate_ndigits(
        tmp_path_factory.mktemp("nd") / "ndigits", TINY, workers=1, progress=False
    )


def test_ndigits_generator_is_deterministic(tmp_path):
    p = NDigitsParams(classes=(3,), images_per_class=2, variants_per_image=2)
    a = generate_ndigits(tmp_path / "a", p, workers=1, progress=False)
    b = generate_ndigits(tmp_path / "b", p, workers=2, progress=False)
    files = sorted(f.relative_to(a).as_posix() for f in a.rglob("*.bin"))
    assert files == ["3/image_0001.bin", "3/image_0002.bin", "3/image_0003.bin", "3/image_0004.bin"]
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
    other = generate_ndigits(
        tmp_path / "c", NDigitsParams(**{**p.__dict__, "seed": 1}), workers=1, progress=False
    )
    assert (other / files[0]).read_bytes() != (a / files[0]).read_bytes()
    assert p.digest() != NDigitsParams(**{**p.__dict__, "noise_hz": 0.0}).digest()


def test_ndigits_recordings_look_like_nmnist(tiny_ndigits):
    manifest = json.loads((tiny_ndigits / "ndigits.json").read_text())
    assert manifest["recordings"] == 30 and manifest["params"]["images_per_class"] == 10
    ev = aer.read_events(tiny_ndigits / "1" / "image_0001.bin")
    assert ev["x"].min() >= 0 and ev["x"].max() < 34 and ev["y"].max() < 34
    assert ev["t"].min() >= 0 and ev["t"].max() < 300_000
    assert 1000 < len(ev) < 8000 and 0.3 < ev["p"].mean() < 0.7
    counts = [f["events"] for f in manifest["files"]]
    assert all(n > 500 for n in counts)
    # three saccades: events concentrate mid-saccade, few at the turning points (0, 100, 200 ms)
    per_10ms = np.bincount(ev["t"] // 10_000, minlength=30)
    assert per_10ms[4:7].sum() > 2 * per_10ms[[0, 9, 10]].sum()


def test_ndigits_frame_dataset_and_no_source_leakage(tiny_ndigits, tmp_path):
    kw = {"root": tiny_ndigits, "cache_dir": tmp_path / "cache", "progress": False}
    train = FrameDataset("ndigits", "train", **kw)
    test = FrameDataset("ndigits", "test", **kw)
    assert train.classes == ["0", "1", "2"] and train.num_classes == 3
    assert (len(train), len(test)) == (27, 3)
    assert train.input_shape == (2, 34, 34) and train.timesteps == 10
    assert [f.name for f in test.files] == ["image_0010.bin"] * 3
    assert test.labels.tolist() == [0, 1, 2]
    manifest = json.loads((tiny_ndigits / "ndigits.json").read_text())
    source = {f["file"]: f["source"] for f in manifest["files"]}
    rel = lambda ds: {source[p.relative_to(tiny_ndigits).as_posix()] for p in ds.files}  # noqa
    assert not rel(train) & rel(test)
    loader = torch.utils.data.DataLoader(
        train,
        batch_size=4,
        sampler=balanced_indices(train.labels, len(train), torch.Generator().manual_seed(0)),
    )
    x, y = next(iter(loader))
    assert x.shape == (4, 2, 34, 34, 10) and x.dtype == torch.float32 and y.shape == (4,)
    assert float(x.sum()) > 0


def test_ndigits_generated_on_first_use(tmp_path):
    p = NDigitsParams(classes=(7,), images_per_class=10, variants_per_image=1)
    ds = FrameDataset("ndigits", "test", params=p, cache_dir=tmp_path / "c", progress=False)
    assert ds.root == (tmp_path / "c" / p.folder_name()).resolve()
    assert (ds.root / "ndigits.json").is_file() and len(ds) == 1
    with pytest.raises(ValueError, match="other parameters"):
        generate_ndigits(
            ds.root, NDigitsParams(classes=(7,), images_per_class=10, seed=5), progress=False
        )


def test_ndigits_warns_when_split_cuts_a_source(tmp_path):
    p = NDigitsParams(classes=(0,), images_per_class=3, variants_per_image=2)
    with pytest.warns(UserWarning, match="cuts through one source image"):
        generate_ndigits(tmp_path / "w", p, workers=1, progress=False)


# ----------------------------------------------------------------------------- CLI
def test_cli_prepare_tiny_ndigits(tmp_path, capsys):
    rc = cli_main(
        [
            "--dataset",
            "ndigits",
            "--prepare",
            "--cache-dir",
            str(tmp_path / "c"),
            "--ndigits",
            "classes=0,1",
            "--ndigits",
            "images_per_class=10",
            "--ndigits",
            "variants_per_image=1",
            "--workers",
            "1",
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and (tmp_path / "c" / "ndigits_samples.png").is_file()
    assert "ndigits: 2 classes (0 1)" in out and "sensor: 34 x 34" in out
    assert "train        18" in out and "test          2" in out
    assert len(list((tmp_path / "c" / "frames").glob("ndigits-*.h5"))) == 2
    assert cli_main(["--ndigits", "nope=1", "--prepare"]) == 2
    assert "expected NAME=VALUE" in capsys.readouterr().err


# ----------------------------------------------------------------------------- generated specs
def test_only_a_generated_dataset_takes_params_and_reports_them(tiny_ndigits, tmp_path):
    """Generation is the spec's business: loaders pass params through ``prepare`` and ask the
    spec what generated the data, with no dataset name in sight."""
    ndigits, caltech = get_spec("ndigits"), get_spec("ncaltech101")
    assert ndigits.generated and ndigits.params_type is NDigitsParams
    assert not caltech.generated and caltech.params_type is None
    assert ndigits.generator_params(tiny_ndigits) == TINY.to_dict()
    assert caltech.generator_params(tiny_ndigits) is None
    with pytest.raises(ValueError, match="params= only applies to generated datasets, not 'nca"):
        FrameDataset("ncaltech101", root=tiny_ndigits, params=TINY, progress=False)
    # prepare with root None generates into the cache folder named by the parameters
    p = NDigitsParams(classes=(4,), images_per_class=1, variants_per_image=1)
    root = ndigits.prepare(None, params=p, progress=False, workers=1, cache_dir=tmp_path / "c")
    assert root == tmp_path / "c" / p.folder_name()
    assert ndigits.generator_params(root) == p.to_dict()
    assert ndigits.prepare(root, progress=False) == root  # its own parameters, nothing redone
