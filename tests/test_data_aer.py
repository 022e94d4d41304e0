"""The 40-bit AER .bin format: hand-made bytes, round trips, the real N-MNIST sample, bad files."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tks_lava.data import EVENT_DTYPE, EventFormatError, read_events, write_events
from tks_lava.data.aer import encode_events

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sample_nmnist.bin"


def make_events(x, y, t, p) -> np.ndarray:
    ev = np.zeros(len(t), dtype=EVENT_DTYPE)
    ev["x"], ev["y"], ev["t"], ev["p"] = x, y, t, p
    return ev


# Three events and one overflow marker, written byte by byte:
#   x=1 y=2 ON  t=5                      -> 01 02 80 00 05
#   x=3 y=4 OFF t=2**23-10 = 0x7FFFF6    -> 03 04 7F FF F6
#   overflow marker (y = 240)            -> 00 F0 00 00 00   adds 2**13 to later timestamps
#   x=5 y=6 ON  raw t = 0x7FE064 = 8380516 -> 05 06 FF E0 64  so t = 8380516 + 8192 = 2**23 + 100
HAND_BYTES = bytes.fromhex("010280000503047FFFF600F00000000506FFE064")
HAND_EVENTS = make_events([1, 3, 5], [2, 4, 6], [5, 2**23 - 10, 2**23 + 100], [1, 0, 1])


def test_hand_made_file_decodes_to_known_events(tmp_path):
    path = tmp_path / "hand.bin"
    path.write_bytes(HAND_BYTES)
    ev = read_events(path)
    assert ev.dtype == EVENT_DTYPE
    assert ev["x"].tolist() == [1, 3, 5]
    assert ev["y"].tolist() == [2, 4, 6]
    assert ev["t"].tolist() == [5, 8388598, 8388708]
    assert ev["p"].tolist() == [1, 0, 1]


def test_writer_produces_the_hand_made_bytes(tmp_path):
    assert encode_events(HAND_EVENTS) == HAND_BYTES
    write_events(tmp_path / "w.bin", HAND_EVENTS)
    assert (tmp_path / "w.bin").read_bytes() == HAND_BYTES


def test_round_trip_exact_with_many_overflows(tmp_path):
    rng = np.random.default_rng(0)
    n = 2000
    # up to ~25 s (hundreds of markers needed) plus edge values: a duplicate 0, the largest raw
    # timestamp and the first one that needs a marker
    t = np.sort(np.r_[rng.integers(0, 3 * 2**23, n - 4), 0, 0, 2**23 - 1, 2**23])
    ev = make_events(
        rng.integers(0, 256, n), rng.choice(np.r_[0:240, 241:256], n), t, rng.integers(0, 2, n)
    )
    path = tmp_path / "rt.bin"
    write_events(path, ev)
    n_markers = path.stat().st_size // 5 - n
    assert n_markers == -(-(int(t.max()) - (2**23 - 1)) // 2**13)  # ceil
    back = read_events(path)
    assert back.dtype == EVENT_DTYPE
    np.testing.assert_array_equal(back, ev)


def test_round_trip_through_tonic_dtype(tmp_path):
    import tonic

    ev = make_events([0, 239], [0, 179], [10, 2**24], [0, 1])
    write_events(tmp_path / "a.bin", ev)
    ref = tonic.io.read_mnist_file(str(tmp_path / "a.bin"), dtype=tonic.datasets.NMNIST.dtype)
    assert ref["t"].tolist() == [10, 2**24] and ref["x"].tolist() == [0, 239]


@pytest.mark.skipif(not SAMPLE.is_file(), reason="shared sample_nmnist.bin not available")
def test_real_nmnist_sample_matches_its_readme(tmp_path):
    assert hashlib.sha256(SAMPLE.read_bytes()).hexdigest().startswith("3c9159329633efbb")
    ev = read_events(SAMPLE)
    assert len(ev) == 4325
    assert (ev["x"].min(), ev["x"].max(), ev["y"].min(), ev["y"].max()) == (0, 33, 0, 33)
    assert (ev["t"].min(), ev["t"].max()) == (654, 311175)
    assert int(ev["p"].sum()) == 2145
    assert np.all(np.diff(ev["t"]) >= 0)
    write_events(tmp_path / "copy.bin", ev)  # no overflow markers: identical bytes
    assert (tmp_path / "copy.bin").read_bytes() == SAMPLE.read_bytes()


def test_empty_file(tmp_path):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    with pytest.raises(EventFormatError, match=r"empty\.bin: empty file"):
        read_events(path)


def test_folder_is_not_called_a_truncated_file(tmp_path):
    folder = tmp_path / "recordings.bin"
    folder.mkdir()
    with pytest.raises(EventFormatError, match=r"recordings\.bin: is a folder, expected one AER"):
        read_events(folder)


def test_truncated_file(tmp_path):
    path = tmp_path / "cut.bin"
    path.write_bytes(HAND_BYTES[:-2])
    with pytest.raises(EventFormatError, match=r"cut\.bin: truncated: 18 bytes") as err:
        read_events(path)
    assert "re-extract" in str(err.value)


def test_only_overflow_markers(tmp_path):
    path = tmp_path / "markers.bin"
    path.write_bytes(bytes.fromhex("00F0000000") * 2)
    with pytest.raises(EventFormatError, match=r"markers\.bin: no events"):
        read_events(path)


def test_timestamps_going_backwards(tmp_path):
    path = tmp_path / "back.bin"
    path.write_bytes(bytes.fromhex("010200006401020000320102000064"))  # t 100, 50, 100
    with pytest.raises(
        EventFormatError,
        match=r"back\.bin: timestamps go backwards at event 1 "
        r"\(100 us -> 50 us",
    ):
        read_events(path)
    assert read_events(path, check_order=False)["t"].tolist() == [100, 50, 100]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("y", 240, "reserved for overflow"),
        ("x", 256, "x outside 0..255"),
        ("p", 2, "p must be 0"),
        ("t", -1, "t must be >= 0"),
    ],
)
def test_writer_rejects_unencodable_events(tmp_path, field, value, message):
    ev = make_events([1, 2], [1, 2], [0, 1], [0, 1])
    ev[field][1] = value
    with pytest.raises(EventFormatError, match=message):
        write_events(tmp_path / "bad.bin", ev)
    assert not any(tmp_path.iterdir())  # nothing (not even a temp file) left behind


def test_writer_rejects_unsorted_time(tmp_path):
    with pytest.raises(EventFormatError, match="u.bin: timestamps go backwards"):
        write_events(tmp_path / "u.bin", make_events([1, 1], [1, 1], [5, 4], [0, 0]))


def test_import_is_light():
    code = (
        "import sys, tks_lava.data; print(sorted(m for m in ('torch', 'tonic', 'lava', "
        "'h5py', 'sklearn', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
