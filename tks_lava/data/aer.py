"""Reader and writer for the 40-bit ATIS AER ``.bin`` format of N-MNIST and N-Caltech101.

Each record is 5 bytes: ``b0 = x``, ``b1 = y``, bit 7 of ``b2`` = polarity (1 = ON), and the
remaining 23 bits (``b2 & 0x7F``, ``b3``, ``b4``) a big-endian timestamp in microseconds. A
record with ``y == 240`` is a timestamp-overflow marker, not an event: it adds ``2**13`` us to
the timestamps of all later records. (That increment, not ``2**23``, is the convention of
Orchard's reference reader and of ``tonic.io.read_mnist_file``; the writer here follows it, so
files it writes read back exactly with either.)

Decoding uses tonic's reader; this module adds the validation tonic lacks (empty and truncated
files, timestamps going backwards) and the encoder tonic does not have.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tks_lava.io import write_bytes_atomic

#: Structured dtype of an event array. Field order follows tonic (x, y, t, p). x and y are
#: int16 (sensors here are < 32768 px wide), t is int64 microseconds (never wraps), p is int8
#: (0 = OFF, 1 = ON). Signed types so that differences such as ``x - x.min()`` cannot wrap.
EVENT_DTYPE = np.dtype([("x", "<i2"), ("y", "<i2"), ("t", "<i8"), ("p", "<i1")])

RECORD_BYTES = 5
OVERFLOW_Y = 240  # y value that marks a timestamp-overflow record
OVERFLOW_INCREMENT = 2**13  # us added to all later timestamps per overflow record
MAX_RAW_T = 2**23 - 1  # largest timestamp a record's 23-bit field can hold


class EventFormatError(ValueError):
    """An event file (or event array) breaks the format; the message names the file and fix."""


def read_events(path: str | os.PathLike, *, check_order: bool = True) -> np.ndarray:
    """Read an AER ``.bin`` file into an ``EVENT_DTYPE`` array (t in us, non-decreasing).

    Raises ``EventFormatError`` (naming the file) for an empty file, a length that is not a
    multiple of 5 bytes (truncated), a file holding only overflow markers, or timestamps that
    go backwards (``check_order=False`` skips the last check).
    """
    path = Path(path)
    if path.is_dir():
        raise EventFormatError(
            f"{path}: is a folder, expected one AER .bin recording; pass a file inside it (or "
            "the folder as a dataset root with --data-root)"
        )
    size = path.stat().st_size  # FileNotFoundError names the path itself
    if size == 0:
        raise EventFormatError(
            f"{path}: empty file (0 bytes), expected 5-byte AER event records. "
            "Re-extract or re-download this recording, or delete it."
        )
    if size % RECORD_BYTES:
        raise EventFormatError(
            f"{path}: truncated: {size} bytes is not a multiple of the 5-byte AER record "
            f"({size // RECORD_BYTES} whole records + {size % RECORD_BYTES} stray bytes). "
            "The file was probably cut short while copying or extracting; re-extract it."
        )
    from tonic.io import read_mnist_file  # imported here: tonic pulls in torch (~3 s)

    events = read_mnist_file(str(path), dtype=EVENT_DTYPE)
    if len(events) == 0:
        raise EventFormatError(
            f"{path}: no events ({size // RECORD_BYTES} records, all overflow markers). "
            "Re-extract or re-download this recording, or delete it."
        )
    if check_order:
        check_time_order(events, path)
    return events


def check_time_order(events: np.ndarray, source: str | os.PathLike = "<events>") -> None:
    """Raise ``EventFormatError`` if ``events['t']`` ever decreases."""
    t = events["t"]
    back = np.flatnonzero(t[1:] < t[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise EventFormatError(
            f"{source}: timestamps go backwards at event {i} ({int(t[i - 1])} us -> "
            f"{int(t[i])} us; {back.size} such place(s)). AER recordings must be sorted in "
            "time; the file is corrupt: re-extract it or delete it."
        )


def encode_events(events: np.ndarray, source: str | os.PathLike = "<events>") -> bytes:
    """Encode events as AER records, inserting overflow markers wherever t > 2**23 - 1.

    Before each event, just enough markers are emitted that its timestamp minus
    ``markers_so_far * 2**13`` fits 23 bits, so decoding restores t exactly.
    """
    events = validate_events(events, source)
    t = events["t"].astype(np.int64)
    # markers needed before event i: ceil((t_i - MAX_RAW_T) / 2**13), at least 0 (t sorted).
    k = np.maximum(0, (t - MAX_RAW_T + OVERFLOW_INCREMENT - 1) // OVERFLOW_INCREMENT)
    n_markers = int(k[-1]) if len(k) else 0
    records = np.zeros((len(events) + n_markers, RECORD_BYTES), dtype=np.uint8)
    records[:, 1] = OVERFLOW_Y  # every row is a marker unless an event overwrites it
    rows = np.arange(len(events)) + k
    raw_t = t - k * OVERFLOW_INCREMENT
    records[rows, 0] = events["x"]
    records[rows, 1] = events["y"]
    records[rows, 2] = (events["p"].astype(np.int64) << 7) | ((raw_t >> 16) & 0x7F)
    records[rows, 3] = (raw_t >> 8) & 0xFF
    records[rows, 4] = raw_t & 0xFF
    return records.tobytes()


def write_events(path: str | os.PathLike, events: np.ndarray) -> None:
    """Write events to an AER ``.bin`` file atomically; ``read_events`` gives them back exactly.

    Requirements (else ``EventFormatError``): 0 <= x <= 255, 0 <= y <= 255 and y != 240 (the
    format reserves y = 240 for overflow markers), p in {0, 1}, t >= 0 and non-decreasing.
    """
    write_bytes_atomic(path, encode_events(events, path))


def validate_events(events: np.ndarray, source: str | os.PathLike = "<events>") -> np.ndarray:
    """Check that ``events`` can be stored in the AER format; return it as ``EVENT_DTYPE``."""
    names = getattr(events.dtype, "names", None) or ()
    missing = [f for f in EVENT_DTYPE.names if f not in names]
    if missing:
        raise EventFormatError(
            f"{source}: event array lacks field(s) {missing}; expected a structured array with "
            f"fields x, y, t, p (see tks_lava.data.EVENT_DTYPE)."
        )
    ev = np.empty(len(events), dtype=EVENT_DTYPE)
    for f in EVENT_DTYPE.names:
        col = np.asarray(events[f])
        if col.dtype.kind not in "iub":
            raise EventFormatError(f"{source}: field {f!r} must be integer, got {col.dtype}.")
        ev[f] = col
    problems = []
    for f, lo, hi in (("x", 0, 255), ("y", 0, 255)):
        col = np.asarray(events[f]).astype(np.int64)
        if col.size and (col.min() < lo or col.max() > hi):
            problems.append(f"{f} outside {lo}..{hi} (range {col.min()}..{col.max()})")
    if np.any(ev["y"] == OVERFLOW_Y):
        problems.append("y == 240 is reserved for overflow markers")
    if ev.size and not np.isin(ev["p"], (0, 1)).all():
        problems.append("p must be 0 (OFF) or 1 (ON)")
    if ev.size and ev["t"].min() < 0:
        problems.append("t must be >= 0")
    if problems:
        raise EventFormatError(f"{source}: cannot encode as AER: " + "; ".join(problems) + ".")
    check_time_order(ev, source)
    return ev
