"""Checkpoints of a machine database (:mod:`physseg.cli.store`): the engine's image
(:meth:`physseg.PhysMem.image`) stored as rows, and read back as data.

A checkpoint is one ``checkpoints`` row (``seq``: the journal row it follows; ``meta``: the
image's meta as JSON text) and one or more ``checkpoint_arrays`` rows per array: its name, the
part number (an array is cut into parts of at most :data:`PART_BYTES`), the dtype's name, the
part's length in elements and its bytes, little-endian (``arr.tobytes()``).

Reading it back trusts nothing: the meta is parsed by the bounded JSON reader of the trace
parser (:func:`physseg.cli.trace.load_json`), a dtype must be one of :data:`DTYPES`, every
part's byte count must be its length times the item size (checked in SQL before the bytes
are fetched), parts are numbered from 0 without a gap, the whole image is at most
:data:`MAX_IMAGE_BYTES`, and the bytes are read with ``np.frombuffer`` and that whitelisted
dtype. Nothing is unpickled, unmarshalled or evaluated; :meth:`PhysMem.from_image` then
validates the image as the engine's. A problem raises ``ValueError`` naming it.
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any, Final

import numpy as np

from physseg.cli.trace import load_json
from physseg.netbsd import KernelImage

DTYPES: Final[dict[str, np.dtype[Any]]] = {
    "uint64": np.dtype("<u8"),
    "int64": np.dtype("<i8"),
    "uint8": np.dtype("u1"),
    "int8": np.dtype("i1"),
}
"""The dtypes an array may have, by name, with the little-endian layout its bytes are stored
in."""
PART_BYTES: Final = 16 << 20
"""The most bytes one ``checkpoint_arrays`` row holds (well under SQLite's value limit)."""
MAX_IMAGE_BYTES: Final = 256 << 20
"""The most bytes a checkpoint's arrays and meta may hold together. An image is run-length
encoded (a booted 1 TiB machine's is a few KB), so this only bounds a hostile file."""
MAX_ARRAYS: Final = 64
"""The most arrays an image may have (it has 7)."""
MAX_NAME_CHARS: Final = 64
"""The longest array name."""


def image_bytes(image: KernelImage) -> int:
    """What ``image`` takes in a checkpoint: its arrays' bytes and its meta's JSON. O(meta)."""
    return image.nbytes + len(_meta_text(image))


def _meta_text(image: KernelImage) -> str:
    return json.dumps(image.meta, separators=(",", ":"))


def write_checkpoint(conn: sqlite3.Connection, seq: int, image: KernelImage) -> None:
    """Make ``image`` the machine's only checkpoint, the one after journal row ``seq``: older
    checkpoints are deleted. Raises ``ValueError`` for an array of another dtype or shape (the
    engine makes none). O(image bytes)."""
    conn.execute("DELETE FROM checkpoint_arrays")
    conn.execute("DELETE FROM checkpoints")
    conn.execute("INSERT INTO checkpoints VALUES (?, ?)", (seq, _meta_text(image)))
    for name, array in sorted(image.arrays.items()):
        stored = DTYPES.get(array.dtype.name)
        if stored is None or array.ndim != 1:
            raise ValueError(f"image array {name!r} is {array.dtype.name} {array.shape}")
        data = np.ascontiguousarray(array, dtype=stored)
        per_part = PART_BYTES // stored.itemsize
        for part, first in enumerate(range(0, max(len(data), 1), per_part)):
            chunk = data[first : first + per_part]
            conn.execute(
                "INSERT INTO checkpoint_arrays VALUES (?, ?, ?, ?, ?, ?)",
                (seq, name, part, array.dtype.name, len(chunk), chunk.tobytes()),
            )


def _layout(conn: sqlite3.Connection, seq: int) -> dict[str, tuple[str, list[int]]]:
    """Every array's dtype name and parts' lengths, checked, without fetching any bytes."""
    rows = conn.execute(
        "SELECT substr(name, 1, ?), part, substr(dtype, 1, 16), length, length(data)"
        " FROM checkpoint_arrays WHERE seq = ? ORDER BY name, part LIMIT ?",
        (MAX_NAME_CHARS + 1, seq, MAX_IMAGE_BYTES // PART_BYTES + MAX_ARRAYS + 1),
    ).fetchall()
    layout: dict[str, tuple[str, list[int]]] = {}
    total = 0
    for name, part, dtype, length, nbytes in rows:
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise ValueError("a checkpoint array has no short name")
        if dtype not in DTYPES:
            raise ValueError(f"checkpoint array {name!r} has dtype {dtype!r:.20}")
        kind, parts = layout.setdefault(name, (dtype, []))
        if dtype != kind or part != len(parts):
            raise ValueError(f"checkpoint array {name!r}: part {part!r:.20} is out of place")
        itemsize = DTYPES[dtype].itemsize
        if not isinstance(length, int) or length < 0 or nbytes != length * itemsize:
            raise ValueError(
                f"checkpoint array {name!r} part {part}: {nbytes} bytes are not"
                f" {length!r:.20} {dtype} values"
            )
        total += nbytes
        if total > MAX_IMAGE_BYTES or len(layout) > MAX_ARRAYS:
            raise ValueError(f"the checkpoint holds more than {MAX_IMAGE_BYTES} bytes")
        parts.append(length)
    return layout


def _meta(conn: sqlite3.Connection, seq: int) -> dict[str, Any]:
    rows = conn.execute(
        "SELECT CASE WHEN length(meta) <= ? THEN meta END FROM checkpoints WHERE seq = ?",
        (MAX_IMAGE_BYTES, seq),
    ).fetchall()
    if len(rows) != 1 or not isinstance(rows[0][0], str):
        raise ValueError(f"the checkpoint after journal row {seq} has no readable meta")
    meta = load_json(rows[0][0])
    if not isinstance(meta, dict):
        raise ValueError(f"the checkpoint after journal row {seq} has no meta object")
    return meta


def check_checkpoint(conn: sqlite3.Connection, seq: int) -> None:
    """Check the checkpoint after journal row ``seq`` as far as can be done without reading
    its arrays' bytes (what a read-only command checks): its meta is a bounded JSON object,
    its arrays' rows are well-formed. Raises ``ValueError``. O(meta + array rows)."""
    _meta(conn, seq)
    _layout(conn, seq)


def read_checkpoint(conn: sqlite3.Connection, seq: int) -> KernelImage:
    """The image of the checkpoint after journal row ``seq``, read as data (see the module
    docstring). Raises ``ValueError`` naming what is wrong; the engine checks the rest when
    the image is loaded. O(image bytes)."""
    meta = _meta(conn, seq)
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for name, (dtype, lengths) in _layout(conn, seq).items():
        parts = []
        for part, length in enumerate(lengths):
            (data,) = conn.execute(
                "SELECT data FROM checkpoint_arrays WHERE seq = ? AND name = ? AND part = ?",
                (seq, name, part),
            ).fetchone()
            if not isinstance(data, bytes) or len(data) != length * DTYPES[dtype].itemsize:
                raise ValueError(f"checkpoint array {name!r} part {part} changed under us")
            parts.append(np.frombuffer(data, dtype=DTYPES[dtype]))
        arrays[name] = np.concatenate(parts).astype(np.dtype(dtype))
    return KernelImage(meta, arrays)
