"""Dataset registry, layouts, splits, bad inputs, the frame cache and the torch Dataset."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from tks_lava.data import (
    DATASETS,
    EVENT_DTYPE,
    DatasetNotFoundError,
    EventFormatError,
    FrameConfig,
    FrameDataset,
    aer,
    balanced_indices,
    default_cache_dir,
    get_spec,
    write_events,
)
from tks_lava.data.cli import main as cli_main
from tks_lava.data.spec import DatasetLayoutError, per_class_head_split


@pytest.fixture(autouse=True)
def _no_home_cache(tmp_path, monkeypatch):
    """Nothing in these tests may touch ~/.cache: point the default cache at tmp."""
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "default-cache"))
    monkeypatch.delenv("TKS_LAVA_DATA", raising=False)


def random_events(rng: np.random.Generator, n: int, w: int = 240, h: int = 180) -> np.ndarray:
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev["x"], ev["y"] = rng.integers(0, w, n), rng.integers(0, h, n)
    ev["t"], ev["p"] = np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 2, n)
    return ev


def fake_caltech(base: Path, counts: dict[str, int], seed: int = 0) -> Path:
    """Write ``<base>/<class>/image_XXXX.bin`` recordings with random events."""
    rng = np.random.default_rng(seed)
    for cls, n in counts.items():
        for i in range(n):
            write_events(base / cls / f"image_{i + 1:04d}.bin", random_events(rng, 50))
    return base


# ----------------------------------------------------------------------------- registry
def test_registry_and_get_spec():
    assert {"ncaltech101", "nmnist", "ndigits", "cifar10dvs", "dvsgesture"} <= set(DATASETS)
    assert get_spec("N-Caltech101") is DATASETS["ncaltech101"]
    assert get_spec("ncaltech101").sensor_size == (240, 180, 2)
    assert get_spec("nmnist").sensor_size == (34, 34, 2)
    assert get_spec("ndigits").default_frames() == FrameConfig(timesteps=10, size=None)
    assert get_spec("ncaltech101").default_frames().size == (48, 48)
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; known datasets: .*ncaltech101"):
        get_spec("mnist")


def test_default_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("TKS_LAVA_CACHE", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("TKS_LAVA_CACHE")
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert default_cache_dir() == Path.home() / ".cache" / "tks_lava"


# ----------------------------------------------------------------------------- layouts, splits
def test_split_rule_by_hand():
    labels = np.array([0] * 7 + [1] * 3 + [2] * 1)
    # round(0.9 * 7) = 6, round(2.7) = 3, round(0.9) = 1 -> test gets 1, 0, 0
    assert per_class_head_split(labels, "test", 0.9).tolist() == [6]
    assert per_class_head_split(labels, "train", 0.9).tolist() == [0, 1, 2, 3, 4, 5, 7, 8, 9, 10]


@pytest.mark.parametrize("sub", ["NCALTECH101/Caltech101", "Caltech101", ""])
def test_ncaltech101_layouts_and_sorted_split(tmp_path, sub):
    fake_caltech(tmp_path / sub if sub else tmp_path, {"b_cls": 10, "a_cls": 3})
    spec = get_spec("ncaltech101")
    files, labels, classes = spec.find_files(tmp_path)
    assert classes == ["a_cls", "b_cls"]
    assert [f.name for f in files[:3]] == ["image_0001.bin", "image_0002.bin", "image_0003.bin"]
    test = spec.split_indices(files, labels, "test")
    assert [f"{files[i].parent.name}/{files[i].name}" for i in test] == ["b_cls/image_0010.bin"]


def test_nmnist_official_split(tmp_path):
    rng = np.random.default_rng(1)
    for part, n in (("Train", 3), ("Test", 2)):
        for digit in "01":
            for i in range(n):
                write_events(
                    tmp_path / "NMNIST" / part / digit / f"{i:05d}.bin",
                    random_events(rng, 20, 34, 34),
                )
    spec = get_spec("nmnist")
    files, labels, classes = spec.find_files(tmp_path)
    assert classes == ["0", "1"] and len(files) == 10
    assert len(spec.split_indices(files, labels, "train")) == 6
    assert all(
        files[i].parent.parent.name == "Test" for i in spec.split_indices(files, labels, "test")
    )


def test_missing_dataset_error_says_where_layout_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        FrameDataset("ncaltech101", root=tmp_path / "nowhere", cache_dir=tmp_path, progress=False)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert str(tmp_path / "nowhere" / "NCALTECH101" / "Caltech101") in msg
    assert "Expected layout" in msg and "image_XXXX.bin" in msg
    assert "How to get it" in msg and "1.2 GB" in msg


def test_folder_with_no_classes(tmp_path):
    (tmp_path / "empty_root").mkdir()
    (tmp_path / "empty_root" / "README.txt").write_text("nothing here")
    with pytest.raises(
        DatasetNotFoundError,
        match=f"no class folders with .bin recordings found under {tmp_path / 'empty_root'}",
    ):
        get_spec("ncaltech101").find_files(tmp_path / "empty_root")


def test_non_event_files_in_class_folder(tmp_path):
    fake_caltech(tmp_path, {"a": 2})
    (tmp_path / "a" / "notes.txt").write_text("x")
    (tmp_path / "a" / ".DS_Store").write_text("x")  # hidden: ignored silently
    spec = get_spec("ncaltech101")
    with pytest.raises(
        DatasetLayoutError,
        match=r"a: 1 non-event entry in a class folder: "
        r"notes\.txt",
    ):
        spec.find_files(tmp_path, strict=True)
    with pytest.warns(UserWarning, match=r"notes\.txt"):
        files, _, _ = spec.find_files(tmp_path)
    assert [f.name for f in files] == ["image_0001.bin", "image_0002.bin"]


# ----------------------------------------------------------------------------- corrupt files
def corrupt_tree(root: Path) -> Path:
    fake_caltech(root, {"a": 10, "b": 10})
    (root / "a" / "image_0002.bin").write_bytes(b"\x01\x02\x03")  # truncated
    (root / "b" / "image_0003.bin").write_bytes(b"")  # empty
    (root / "b" / "image_0004.bin").write_bytes(bytes.fromhex("01020000640102000032"))
    return root


def test_corrupt_files_skipped_counted_and_warned(tmp_path):
    root = corrupt_tree(tmp_path / "data")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = FrameDataset(
            "ncaltech101",
            "train",
            FrameConfig(timesteps=2, size=(12, 16)),
            root=root,
            cache_dir=tmp_path / "cache",
            progress=False,
        )
    text = "\n".join(str(w.message) for w in caught)
    for name in (
        "a/image_0002.bin: truncated",
        "b/image_0003.bin: empty file",
        "b/image_0004.bin: timestamps go backwards",
    ):
        assert name in text
    assert "skipped 3 of 18 corrupt recordings" in text
    assert len(ds) == 15 and len(ds.skipped) == 3
    assert sorted(p.name for p in ds.skipped) == [
        "image_0002.bin",
        "image_0003.bin",
        "image_0004.bin",
    ]
    assert ds.class_counts().tolist() == [8, 7]
    assert ds.files[1].name == "image_0003.bin"  # image_0002 is gone, the order is kept
    x, y = ds[0]
    assert x.shape == (2, 12, 16, 2) and x.dtype == torch.float32 and y == 0
    # reopening the cache remembers what was skipped; strict refuses it
    again = FrameDataset(
        "ncaltech101",
        "train",
        FrameConfig(timesteps=2, size=(12, 16)),
        root=root,
        cache_dir=tmp_path / "cache",
        progress=False,
    )
    assert again.cache_hit and len(again.skipped) == 3
    with pytest.raises(EventFormatError, match="skipping 3 corrupt"):
        FrameDataset(
            "ncaltech101",
            "train",
            FrameConfig(timesteps=2, size=(12, 16)),
            root=root,
            cache_dir=tmp_path / "cache",
            progress=False,
            strict=True,
        )


def test_corrupt_file_strict_raises_naming_it(tmp_path):
    root = corrupt_tree(tmp_path / "data")
    with pytest.raises(EventFormatError, match=r"a/image_0002\.bin: truncated"):
        FrameDataset(
            "ncaltech101",
            "train",
            FrameConfig(timesteps=2, size=(12, 16)),
            root=root,
            cache_dir=tmp_path / "cache",
            progress=False,
            strict=True,
        )
    assert not list((tmp_path / "cache" / "frames").glob("*"))  # no partial cache left


# ----------------------------------------------------------------------------- the frame cache
def test_cache_reused_and_invalidated(tmp_path, monkeypatch):
    root = fake_caltech(tmp_path / "data", {"a": 5, "b": 5})
    calls = []
    real_read = aer.read_events

    def counting_read(path, **kw):
        calls.append(Path(path).name)
        return real_read(path, **kw)

    monkeypatch.setattr(aer, "read_events", counting_read)

    def make(**frames_kw):
        calls.clear()
        cfg = FrameConfig(**{"timesteps": 3, "size": None, **frames_kw})
        ds = FrameDataset(
            "ncaltech101", "train", cfg, root=root, cache_dir=tmp_path / "cache", progress=False
        )
        return ds, len(calls)

    first, n = make()
    assert n == 8 and not first.cache_hit
    assert first.input_shape == (2, 180, 240) and first.timesteps == 3
    second, n = make()
    assert n == 0 and second.cache_hit and second.cache_path == first.cache_path
    torch.testing.assert_close(second[3][0], first[3][0])
    with h5py.File(first.cache_path) as h5:
        key = json.loads(h5.attrs["key"])
        assert h5["frames"].dtype == np.uint16 and h5["frames"].shape == (8, 2, 180, 240, 3)
    assert key["split_rule"].startswith("per-class first round(0.9 * n)")
    assert key["frames"]["timesteps"] == 3
    # a frame-parameter change gives a new cache file
    t5, n = make(timesteps=5)
    assert n == 8 and t5.cache_path != first.cache_path and t5.timesteps == 5
    small, n = make(size=(24, 32))
    assert n == 8 and small.input_shape == (2, 24, 32)
    with h5py.File(small.cache_path) as h5:
        assert h5["frames"].dtype == np.float16
    # frames in the cache equal binning from the events
    from tks_lava.data.frames import bin_events

    ev = real_read(first.files[0])
    np.testing.assert_array_equal(first[0][0].numpy(), bin_events(ev, (240, 180, 2), 3))
    # a changed recording changes the file list fingerprint -> rebuild
    write_events(root / "a" / "image_0001.bin", ev[:10])
    rebuilt, n = make()
    assert n == 8 and rebuilt.cache_path != first.cache_path and rebuilt.n_events[0] == 10
    # a cache file whose key does not match is not trusted
    with h5py.File(rebuilt.cache_path, "r+") as h5:
        h5.attrs["key"] = json.dumps({"tampered": True})
    _, n = make()
    assert n == 8


def test_lazy_reading_matches_in_memory(tmp_path):
    root = fake_caltech(tmp_path / "data", {"a": 3, "b": 2})
    kw = {
        "frames": FrameConfig(timesteps=2, size=(8, 8)),
        "root": root,
        "cache_dir": tmp_path / "c",
        "progress": False,
    }
    mem = FrameDataset("ncaltech101", "train", in_memory=True, **kw)
    lazy = FrameDataset("ncaltech101", "train", in_memory=False, **kw)
    assert mem.in_memory and not lazy.in_memory
    for i in range(len(mem)):
        torch.testing.assert_close(mem[i][0], lazy[i][0])


def test_balanced_indices_weights():
    labels = np.array([0] * 8 + [1] * 2)

    def draw(n):
        return np.array(balanced_indices(labels, n, torch.Generator().manual_seed(3)))

    assert len(draw(10)) == 10
    draws = draw(4000)  # class weights 1/8 and 1/2: each class half of the draws
    assert abs((draws >= 8).mean() - 0.5) < 0.05
    assert draws[:50].tolist() == draw(4000)[:50].tolist()


# ----------------------------------------------------------------------------- CLI
def test_cli_missing_dataset_exits_2(tmp_path, capsys):
    rc = cli_main(
        [
            "--dataset",
            "ncaltech101",
            "--prepare",
            "--data-root",
            str(tmp_path / "x"),
            "--cache-dir",
            str(tmp_path / "c"),
        ]
    )
    out = capsys.readouterr()
    assert rc == 2 and "Traceback" not in out.err
    assert out.err.startswith("error: dataset 'ncaltech101'") and "How to get it" in out.err


def test_cli_prepare_prints_summary_and_plot(tmp_path, capsys):
    root = fake_caltech(tmp_path / "data", {"a": 10, "b": 10})
    png = tmp_path / "p.png"
    rc = cli_main(
        [
            "--dataset",
            "ncaltech101",
            "--prepare",
            "--data-root",
            str(root),
            "--cache-dir",
            str(tmp_path / "c"),
            "--timesteps",
            "4",
            "--frame-size",
            "16x16",
            "--plot",
            str(png),
            "--no-progress",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "ncaltech101: 2 classes (a b)" in out and "sensor: 240 x 180" in out
    assert "train        18" in out and "test          2" in out
    assert "50 / 50 / 50" in out  # events per sample min / median / max


def test_dvsgesture_layout_reader_and_split(tmp_path):
    base = tmp_path / "DVSGesture"
    rows = np.array([[1, 2, 1, 0.5], [3, 4, 0, 1.25]])  # x, y, p, t in ms
    for part, user in (("ibmGestureTrain", "user01_led"), ("ibmGestureTest", "user24_fluorescent")):
        (base / part / user).mkdir(parents=True)
        for label in (0, 10):
            np.save(base / part / user / f"{label}.npy", rows)
    spec = get_spec("dvsgesture")
    files, labels, classes = spec.find_files(tmp_path)
    assert len(classes) == 11 and labels.tolist() == [0, 10, 0, 10]
    assert spec.split_indices(files, labels, "test").tolist() == [2, 3]
    ev, dropped = spec.read_events(files[0])
    assert ev["t"].tolist() == [500, 1250] and ev["p"].tolist() == [1, 0] and dropped == 0


def test_recordings_smaller_than_the_sensor_warn(tmp_path):
    """34x34 (N-MNIST-sized) recordings read with the 240x180 N-Caltech101 reader would sit in
    one corner of every frame: the cache build says so, with both sizes and the fix."""
    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        for i in range(10):
            write_events(
                tmp_path / "own" / cls / f"image_{i:04d}.bin", random_events(rng, 300, 34, 34)
            )
    with pytest.warns(UserWarning, match=r"span at most 34x34 px of its 240x180 sensor.*nmnist"):
        FrameDataset(
            "ncaltech101",
            "train",
            root=tmp_path / "own",
            progress=False,
            frames=FrameConfig(timesteps=4, size=(16, 16)),
        )
