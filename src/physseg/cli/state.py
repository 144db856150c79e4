"""The saved machine of the ``physseg`` command line: a versioned JSON state file, written
atomically, that rebuilds a :class:`physseg.PhysMem` exactly.

Design: the file holds the machine's **configuration** and the **log of every operation that
succeeded** on it, in the trace vocabulary of :mod:`physseg.cli.trace` (``physload`` ... ``init``
from the boot, then ``plug`` / ``unplug``). Rebuilding replays the log on a fresh ``PhysMem``:
the engine is deterministic, so the replay reaches the very state that was saved, page-array
placement and extent regions included, which a list of segments alone could not restore. The
file also holds the resulting :class:`physseg.Snapshot`; :func:`rebuild` checks that the replay
reproduces it, and commands that only read (``show``, ``find``, ``map``) use it directly without
rebuilding — booting a 1 TiB map costs the engine a minute and gigabytes, reading its snapshot a
few milliseconds. A SHA-256 checksum over the content detects any damage or hand edit.

Slab numbers in the snapshot: format version 2 stores the engine's own ``Slab.ident``, which
each kernel hands out 1, 2, 3... in creation order, so the replay on a fresh ``PhysMem`` gives
the very same numbers and the snapshots compare as they are. Version 1 was written while slab
numbers came from a process-wide counter: it stores each slab's rank among the snapshot's slabs
in creation order (0, 1, 2...), which differs from the engine's numbers (from 1, and with a gap
for every slab created and later dropped); a version-1 file is therefore compared after ranking
the replay's numbers the same way (:func:`_saved_numbering`), and is written as version 2 by the
next command that changes the machine.

Writes are atomic: a temporary file in the same directory is written and fsynced, renamed over
the old file, and the directory is fsynced, so a crash or a full disk leaves either the old
file or the new one, never a torn one. A missing, corrupt or newer-version file raises a
:class:`StateError` naming the file and the reason, and is never overwritten.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final, TypeVar

from physseg.cli.trace import Find, TraceOp, apply_op, op_from_dict, op_to_dict
from physseg.errors import PhysSegError
from physseg.physmem import PhysMem, Segment, SegmentState, Snapshot

STATE_FORMAT: Final = "physseg-state"
"""The ``"format"`` field every state file carries."""
STATE_VERSION: Final = 2
"""The format version this physseg writes and the newest it reads (1: slab numbers ranked from
0; 2: the engine's own slab numbers; see the module docstring)."""
DEFAULT_STATE_PATH: Final = "physseg-state.json"
"""Where the command line keeps its state unless told otherwise (the working directory)."""
_T = TypeVar("_T")

PAUSE_ENV: Final = "PHYSSEG_STATE_PAUSE_BEFORE_RENAME"
"""Test hook: seconds to sleep after the temporary file is written and fsynced, before the
rename (announced on stderr), so a test can kill the writer at the worst moment."""


class StateError(Exception):
    """The state file cannot be used; ``path`` is the file, the message says why and what to
    do."""

    def __init__(self, path: Path, message: str) -> None:
        self.path = path
        super().__init__(message)


class StateMissingError(StateError):
    """There is no state file."""


class StateCorruptError(StateError):
    """The file is not a state file, is truncated, damaged or was edited."""


class StateVersionError(StateError):
    """The file was written by a newer physseg, in a format version this one cannot read."""


class StateMismatchError(StateError):
    """Replaying the file's log did not reproduce the snapshot saved with it."""


@dataclass(frozen=True, slots=True)
class MachineConfig:
    """The :class:`PhysMem` constructor arguments of the saved machine."""

    backend: str = "rbtree"
    physseg_max: int = 64
    strategy: str = "bsearch"
    nfreelist: int = 4
    page_shift: int = 12

    def new_machine(self) -> PhysMem:
        """A fresh, empty, unbooted ``PhysMem`` with this configuration. Raises what the
        ``PhysMem`` constructor raises for bad values."""
        return PhysMem(
            self.backend,
            physseg_max=self.physseg_max,
            strategy=self.strategy,
            nfreelist=self.nfreelist,
            page_shift=self.page_shift,
        )


@dataclass(frozen=True, slots=True)
class MapRange:
    """One range of the memory map the machine was booted from: ``[start, end)`` in bytes,
    its kind (a :class:`physseg.memmap.RangeKind` value) and the source's label."""

    start: int
    end: int
    kind: str
    label: str


@dataclass(frozen=True, slots=True)
class MapInfo:
    """Where the machine came from: the name given to ``boot``, the parsed source, its format,
    its top-level ranges and the boot plan's warnings."""

    name: str
    source: str
    format: str
    ranges: tuple[MapRange, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FreeListName:
    """A free list's number and its ``VM_FREELIST_*`` name, with the byte address below which
    its pages lie (0 for the default list)."""

    index: int
    name: str
    limit: int


@dataclass(slots=True)
class MachineState:
    """Everything a state file holds. ``ops`` is the log of successful operations;
    ``snapshot`` the snapshot of the machine they build, its slab numbers as format ``version``
    numbers them (see :data:`STATE_VERSION`)."""

    config: MachineConfig
    ops: list[TraceOp] = field(default_factory=list)
    snapshot: Snapshot | None = None
    map_info: MapInfo | None = None
    freelists: tuple[FreeListName, ...] = ()
    version: int = STATE_VERSION

    def record(self, mem: PhysMem, ops: list[TraceOp]) -> None:
        """Append the operations that succeeded on ``mem`` (``find`` is not logged: it changes
        nothing) and take ``mem``'s snapshot (in the current format's numbering).
        O(len(ops) + segments)."""
        self.ops.extend(op for op in ops if not isinstance(op, Find))
        self.snapshot = mem.snapshot()
        self.version = STATE_VERSION

    def freelist_name(self, index: int) -> str:
        """The name of free list ``index`` (``"VM_FREELIST_FIRST16"``), or ``"#<index>"``
        when the state has no name for it. O(free lists)."""
        for entry in self.freelists:
            if entry.index == index:
                return entry.name
        return f"#{index}"


def _saved_numbering(snapshot: Snapshot, version: int) -> Snapshot:
    """``snapshot`` (the engine's slab numbers) numbered as a state file of format ``version``
    stores them: unchanged from version 2 on; for version 1, each slab's rank among the
    snapshot's slabs in creation order (0, 1, 2...; -1, "no page array", kept), which is what
    version-1 files hold. O(segments + extent regions)."""
    if version >= 2:
        return snapshot
    idents = sorted(
        {state.slab for state in snapshot.segments if state.slab >= 0}
        | {extent[0] for extent in snapshot.extents}
    )
    number = {ident: index for index, ident in enumerate(idents)}
    number[-1] = -1
    return replace(
        snapshot,
        segments=tuple(replace(s, slab=number[s.slab]) for s in snapshot.segments),
        extents=tuple((number[e[0]], e[1], e[2]) for e in snapshot.extents),
    )


def snapshot_stats(snapshot: Snapshot) -> dict[str, int]:
    """The counters :meth:`PhysMem.stats` reports, computed from a snapshot (equal to
    ``stats()`` of the machine it was taken from). O(n log n) in segments."""
    views = [s.view for s in snapshot.segments]
    return {
        "segments": len(views),
        "managed_pages": sum(v.npages for v in views),
        "free_pages": snapshot.npages,
        "physmem": snapshot.physmem,
        "holes": len(snapshot_holes(snapshot)),
        "slabs": len({s.slab for s in snapshot.segments if s.slab >= 0}),
    }


def snapshot_holes(snapshot: Snapshot) -> list[tuple[int, int]]:
    """The unmanaged ``[start, end)`` PFN ranges between the first and the last segment, as
    :meth:`PhysMem.holes` gives them. O(n log n)."""
    spans = sorted((s.view.start, s.view.end) for s in snapshot.segments)
    return [
        (a_end, b_start)
        for (_, a_end), (b_start, _) in itertools.pairwise(spans)
        if b_start > a_end
    ]


def rebuild(state: MachineState, path: Path) -> PhysMem:
    """A ``PhysMem`` in exactly the saved state: the configuration's fresh machine with every
    logged operation applied again. O(cost of the logged operations).

    Raises ``StateMismatchError`` when an operation fails or the result's snapshot differs from
    the saved one (the file's log no longer describes its machine, e.g. after a change of the
    engine). A version-1 file's snapshot is compared in its own numbering (see the module
    docstring)."""
    try:
        mem = state.config.new_machine()
    except ValueError as exc:
        raise StateCorruptError(
            path, f"state file {path} describes an impossible machine ({exc})"
        ) from None
    for number, op in enumerate(state.ops, start=1):
        try:
            apply_op(mem, op)
        except PhysSegError as exc:
            raise StateMismatchError(
                path,
                f"state file {path}: replaying logged operation {number} failed ({exc});"
                " the file was not changed",
            ) from None
    if (
        state.snapshot is not None
        and _saved_numbering(mem.snapshot(), state.version) != state.snapshot
    ):
        raise StateMismatchError(
            path,
            f"state file {path}: replaying its {len(state.ops)} operations gives a different"
            " machine than the one saved (was it written by another physseg version?);"
            " the file was not changed",
        )
    return mem


# --------------------------------------------------------------------------- encoding
def _segment_row(state: SegmentState) -> list[int]:
    v = state.view
    return [
        v.start,
        v.end,
        v.avail_start,
        v.avail_end,
        v.free_list,
        v.start_hint,
        state.slab,
        state.index,
    ]


def _encode(state: MachineState) -> dict[str, object]:
    snap = state.snapshot
    doc: dict[str, object] = {
        "format": STATE_FORMAT,
        "version": state.version,
        "written_by": f"physseg {_version()}",
        "machine": {
            "backend": state.config.backend,
            "physseg_max": state.config.physseg_max,
            "strategy": state.config.strategy,
            "nfreelist": state.config.nfreelist,
            "page_shift": state.config.page_shift,
        },
        "freelists": [[f.index, f.name, f"{f.limit:#x}"] for f in state.freelists],
        "map": None,
        "ops": [op_to_dict(op) for op in state.ops],
        "snapshot": None
        if snap is None
        else {
            "booted": snap.booted,
            "npages": snap.npages,
            "physmem": snap.physmem,
            "segments": [_segment_row(s) for s in snap.segments],
            "extents": [
                [ident, destroyed, [list(r) for r in regions]]
                for ident, destroyed, regions in snap.extents
            ],
        },
    }
    if state.map_info is not None:
        info = state.map_info
        doc["map"] = {
            "name": info.name,
            "source": info.source,
            "format": info.format,
            "ranges": [[f"{r.start:#x}", f"{r.end:#x}", r.kind, r.label] for r in info.ranges],
            "warnings": list(info.warnings),
        }
    return doc


def _version() -> str:
    from physseg import __version__

    return __version__


def _checksum(doc: dict[str, object]) -> str:
    body = {key: value for key, value in doc.items() if key != "checksum"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _render(value: object, depth: int = 0) -> str:
    """JSON with one line per operation, segment and map range (readable, diff-friendly)."""
    nested = isinstance(value, dict | list) and depth < 3
    if (
        nested
        and isinstance(value, dict)
        and any(isinstance(v, dict | list) for v in value.values())
    ):
        pad = "  " * (depth + 1)
        items = [f"{pad}{json.dumps(k)}: {_render(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + "  " * depth + "}"
    if nested and isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        pad = "  " * (depth + 1)
        items = [f"{pad}{_render(v, depth + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + "\n" + "  " * depth + "]"
    return json.dumps(value)


def encode_state(state: MachineState) -> bytes:
    """The file content for ``state`` (UTF-8 JSON ending in a newline, checksum included).
    O(size of the state)."""
    doc = _encode(state)
    doc["checksum"] = _checksum(doc)
    return (_render(doc) + "\n").encode()


def _get(record: object, key: str, kind: type[_T]) -> _T:
    """``record[key]``, which must exist and be a ``kind`` (a bool is not an int here)."""
    if not isinstance(record, dict) or key not in record:
        raise ValueError(f"missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {key!r} is not a {kind.__name__}: {value!r}")
    return value


def _ints(row: object, count: int) -> list[int]:
    if not isinstance(row, list) or len(row) != count:
        raise ValueError(f"expected a list of {count} integers, not {row!r}")
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in row):
        raise ValueError(f"expected integers, not {row!r}")
    return row


def _decode_snapshot(backend: str, snap: dict[str, object]) -> Snapshot:
    segments = []
    for row in _get(snap, "segments", list):
        numbers = _ints(row, 8)
        segments.append(SegmentState(Segment(*numbers[:6]), numbers[6], numbers[7]))
    extents = []
    for entry in _get(snap, "extents", list):
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[1], bool):
            raise ValueError(f"bad extent {entry!r}")
        ident = _ints([entry[0]], 1)[0]
        regions = tuple((r[0], r[1]) for r in (_ints(r, 2) for r in entry[2]))
        extents.append((ident, entry[1], regions))
    return Snapshot(
        backend,
        _get(snap, "booted", bool),
        tuple(segments),
        _get(snap, "npages", int),
        _get(snap, "physmem", int),
        tuple(extents),
    )


def _decode_map(info: dict[str, object]) -> MapInfo:
    ranges = []
    for entry in _get(info, "ranges", list):
        if (
            not isinstance(entry, list)
            or len(entry) != 4
            or not all(isinstance(x, str) for x in entry)
        ):
            raise ValueError(f"bad map range {entry!r}")
        ranges.append(MapRange(int(entry[0], 16), int(entry[1], 16), entry[2], entry[3]))
    return MapInfo(
        _get(info, "name", str),
        _get(info, "source", str),
        _get(info, "format", str),
        tuple(ranges),
        tuple(str(w) for w in _get(info, "warnings", list)),
    )


def _decode(doc: dict[str, object]) -> MachineState:
    machine = _get(doc, "machine", dict)
    config = MachineConfig(
        backend=_get(machine, "backend", str),
        physseg_max=_get(machine, "physseg_max", int),
        strategy=_get(machine, "strategy", str),
        nfreelist=_get(machine, "nfreelist", int),
        page_shift=_get(machine, "page_shift", int),
    )
    freelists = []
    for entry in _get(doc, "freelists", list):
        if not isinstance(entry, list) or len(entry) != 3:
            raise ValueError(f"bad free list {entry!r}")
        freelists.append(FreeListName(_ints(entry[:1], 1)[0], str(entry[1]), int(entry[2], 16)))
    ops = []
    for record in _get(doc, "ops", list):
        if not isinstance(record, dict):
            raise ValueError(f"bad operation {record!r}")
        ops.append(op_from_dict(record))
    snap = doc.get("snapshot")
    info = doc.get("map")
    return MachineState(
        config,
        version=_get(doc, "version", int),
        ops=ops,
        snapshot=None
        if snap is None
        else _decode_snapshot(config.backend, _get(doc, "snapshot", dict)),
        map_info=None if info is None else _decode_map(_get(doc, "map", dict)),
        freelists=tuple(freelists),
    )


def decode_state(data: bytes, path: Path) -> MachineState:
    """The state in file content ``data`` read from ``path``.

    Raises ``StateCorruptError`` (not JSON, not a physseg state file, bad checksum, a field
    missing or of the wrong type) and ``StateVersionError`` (a newer format version).
    O(size of the file)."""
    fix = "remove it or use another --state file; it was not changed"
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateCorruptError(path, f"state file {path} is corrupt ({exc}); {fix}") from None
    if not isinstance(doc, dict) or doc.get("format") != STATE_FORMAT:
        raise StateCorruptError(path, f"{path} is not a physseg state file; {fix}")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise StateCorruptError(path, f"state file {path} has no valid version; {fix}")
    if version > STATE_VERSION:
        raise StateVersionError(
            path,
            f"state file {path} has format version {version}, written by"
            f" {doc.get('written_by', 'a newer physseg')}; this physseg {_version()} reads"
            f" version {STATE_VERSION} and older; upgrade physseg or use another --state file;"
            " it was not changed",
        )
    if doc.get("checksum") != _checksum(doc):
        raise StateCorruptError(
            path, f"state file {path} is corrupt (checksum mismatch: damaged or edited); {fix}"
        )
    try:
        return _decode(doc)
    except (TypeError, ValueError) as exc:
        raise StateCorruptError(path, f"state file {path} is corrupt ({exc}); {fix}") from None


def load_state(path: Path) -> MachineState:
    """Read and decode the state file at ``path``.

    Raises ``StateMissingError`` when there is none, what :func:`decode_state` raises, and
    ``OSError`` when it cannot be read. O(size of the file)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StateMissingError(
            path,
            f"no state file {path}; start a machine with `physseg boot MAP` (or pass --state PATH)",
        ) from None
    return decode_state(data, path)


def check_replaceable(path: Path) -> None:
    """Succeeds when ``path`` may be overwritten by a new machine: it does not exist or is a
    state file this physseg reads. Raises what :func:`load_state` raises otherwise (a corrupt
    or newer file is never overwritten)."""
    if path.exists():
        load_state(path)


def save_state(path: Path, state: MachineState) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same directory is
    written and fsynced, renamed over ``path``, then the directory is fsynced. On any error
    the temporary file is removed and ``path`` is unchanged. The new file keeps the old
    file's permission bits (0644 for a new file).

    Raises ``OSError`` (e.g. ``ENOSPC``, ``EACCES``). O(size of the state)."""
    data = encode_state(state)
    directory = path.parent
    try:
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.fchmod(tmp.fileno(), mode)
            tmp.write(data)
            tmp.flush()
            os.fsync(tmp.fileno())
        _pause_for_tests(tmp_name, path)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _pause_for_tests(tmp_name: str, path: Path) -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        print(
            f"physseg: paused before renaming {tmp_name} over {path}", file=sys.stderr, flush=True
        )
        time.sleep(float(pause))
