"""The machine database of the ``physseg`` command line: one SQLite file per machine holding
its configuration, its boot map, the journal of every acknowledged operation, the snapshot the
read-only commands show, and checkpoints of the engine.

**Tables** (schema :data:`SCHEMA_VERSION`; ``PRAGMA application_id`` is
:data:`APPLICATION_ID`, ``PRAGMA user_version`` the schema version, and ``meta`` repeats both
with the physseg versions that created and last wrote the file)::

    meta(key, value)                      format, schema, created_by, written_by, checkpoint_every
    machine(id=1, backend, physseg_max, strategy, nfreelist, page_shift,
            map_name, map_source, map_format)
    map_ranges(ord, start_addr, end_addr, kind, label)    byte addresses as hex text (2**64 fits)
    map_warnings(ord, text)
    freelists(idx, name, limit_addr)
    journal(seq, op)                      one acknowledged operation a row, 1, 2, 3..., as the
                                          JSON object of physseg.cli.trace.op_to_dict
    state(id=1, seq, booted, npages, physmem)   the snapshot below is of journal rows 1..seq
    segments(ord, start_pfn, end_pfn, avail_start, avail_end, free_list, start_hint,
             slab, slab_index)
    extents(ord, slab, destroyed)  extent_regions(extent, ord, start, size)
    checkpoints(seq, meta)                an engine image after journal row seq: meta as JSON,
    checkpoint_arrays(seq, name, part, dtype, length, data)   each array as raw bytes

Every table is ``STRICT`` and the file must hold exactly these objects (a view or trigger
added by hand is refused), so SQL never runs anything the file brings.

**Reading** (``show``, ``find``, ``map``, ``export``: :func:`read_machine`,
:func:`reading`) takes the configuration, map and snapshot in one read transaction, without
building the engine: O(segments), whatever the machine's history. **Writing** (``plug``,
``unplug``, ``replay``: :func:`transaction`) opens with a busy timeout of
:data:`BUSY_TIMEOUT_S`, takes the write lock with ``BEGIN IMMEDIATE``, and only then reads the
newest state and builds the engine from it: the newest checkpoint plus the journal rows after
it, checked against the saved snapshot. The command applies its operations, appends their
journal rows, rewrites the snapshot and commits; two writers are serialised by the lock and
neither can lose the other's rows. ``boot`` and ``replay --fresh`` (:func:`save_new`) replace
every row in one transaction, or create the file under a temporary name and link it into
place, so a path is either absent or a whole machine.

**Trust**: nothing read is unpickled, unmarshalled or evaluated. Before SQLite opens a path,
:func:`checked_path` stats it (following symlinks, so a symlinked state path keeps its link
and the target is updated) and refuses anything but a regular file starting with the SQLite
header; the schema is checked on a read-only connection before any connection may write;
texts are fetched cut to their limits, row counts are capped, every value is checked against
the face's bounds (:mod:`physseg.cli.state`) and every journal row is parsed by the trace
parser. A file that fails raises :class:`StoreError`, naming the file and the reason, and is
left untouched.

The WAL journal mode lets readers run while a writer works; ``synchronous = FULL`` makes each
commit durable before the command reports success (see ``docs/cli.md``).
"""

from __future__ import annotations

import contextlib
import enum
import errno
import os
import secrets
import sqlite3
import stat
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from physseg import __version__
from physseg.cli.checkpoint import (
    MAX_IMAGE_BYTES,
    check_checkpoint,
    image_bytes,
    read_checkpoint,
    write_checkpoint,
)
from physseg.cli.state import (
    MAX_NAME_CHARS,
    MachineConfig,
    MachineState,
    check_freelists,
    check_int,
    check_map_info,
    check_snapshot,
)
from physseg.cli.storerows import (
    DATA_TABLES,
    SCHEMA,
    append_journal,
    newest_checkpoint,
    read_journal,
    read_state,
    write_machine,
    write_snapshot,
)
from physseg.cli.trace import Find, Init, TraceCheckError, TraceOp, apply_op, shorten
from physseg.errors import ImageError, PhysSegError
from physseg.netbsd import KernelImage
from physseg.physmem import PhysMem, Snapshot

FORMAT_NAME: Final = "physseg-machine"
"""``meta.format`` of every machine database."""
SCHEMA_VERSION: Final = 1
"""The schema this physseg writes and the newest it reads."""
APPLICATION_ID: Final = 0x70687367
"""``PRAGMA application_id`` of a machine database (``"phsg"``), so ``file(1)`` and this
module tell it from other SQLite files."""
DEFAULT_STATE_PATH: Final = "physseg-machine.db"
"""Where the command line keeps its machine unless told otherwise (the working directory)."""
BUSY_TIMEOUT_S: Final = 30.0
"""How long a command waits for another one's write lock before it gives up (seconds)."""
SQLITE_HEADER: Final = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""
MAX_VALUE_BYTES: Final = 64 << 20
"""The largest text or blob any connection reads (``SQLITE_LIMIT_LENGTH``): a larger value is
an error, not an allocation."""
CHECKPOINT_EVERY: Final = 12
"""K, the journal rows between checkpoints: a command pays on average about ``r (K - 1) / 2 +
C / K`` beyond restoring the checkpoint (r: replaying a row, 37 to 700 us; C: writing a
checkpoint, 1 to 51 ms), least at ``sqrt(2 C / r)``. Measured by
``benchmarks/store_checkpoint_interval.py`` on booted and grown machines, K = 12 keeps the
largest of those means least (4.5 ms; any K from 10 to 30 stays within 11 ms, K = 1000 costs
up to 350 ms). A file keeps the K it was created with (``meta.checkpoint_every``)."""
MAX_CHECKPOINT_EVERY: Final = 1 << 20
"""The largest checkpoint interval ``meta.checkpoint_every`` may state."""
PAUSE_ENV: Final = "PHYSSEG_STORE_PAUSE_BEFORE_COMMIT"
"""Test hook: seconds a writer sleeps just before its ``COMMIT`` (or, creating a file, before
linking it into place), announced on stderr, so a test can kill it at the worst moment."""


# --------------------------------------------------------------------------- errors
class StoreReason(enum.Enum):
    """Why a state file cannot be used. ``exit_status`` is what the command exits with: 2
    for a file that is unusable as it is, 1 for a machine that is missing, busy or could not
    be written (the file itself is fine)."""

    MISSING = "missing"
    DIRECTORY = "directory"
    DEVICE = "device"
    FIFO = "fifo"
    SOCKET = "socket"
    NOT_REGULAR = "not-regular"
    UNREADABLE = "unreadable"
    NOT_SQLITE = "not-sqlite"
    NOT_PHYSSEG = "not-physseg"
    NEWER_SCHEMA = "newer-schema"
    CORRUPT = "corrupt"
    INVALID = "invalid"
    MISMATCH = "mismatch"
    BUSY = "busy"
    WRITE_FAILED = "write-failed"
    TOO_LARGE = "too-large"

    @property
    def exit_status(self) -> int:
        """2 for an unusable file, 1 for the operational failures. O(1)."""
        return 1 if self in _OPERATIONAL else 2


_OPERATIONAL: Final = frozenset(
    {StoreReason.MISSING, StoreReason.BUSY, StoreReason.WRITE_FAILED, StoreReason.TOO_LARGE}
)


class StoreError(Exception):
    """A state file cannot be used: ``path`` (as the user gave it), ``reason`` (a
    :class:`StoreReason`), ``detail`` (what was found: the SQLite message, the bad value, the
    device kind) and, for a newer schema, the ``schema`` found and who wrote it
    (``written_by``). The message is rendered from the fields; the command exits with
    ``reason.exit_status``.

    >>> str(StoreError(Path("m.db"), StoreReason.DIRECTORY))
    'state file m.db is a directory, not a physseg machine; it was not changed'
    """

    def __init__(
        self,
        path: Path,
        reason: StoreReason,
        detail: str = "",
        *,
        schema: int | None = None,
        written_by: str | None = None,
    ) -> None:
        self.path = path
        self.reason = reason
        self.detail = detail
        self.schema = schema
        self.written_by = written_by
        super().__init__(self._render())

    @property
    def exit_status(self) -> int:
        """The command's exit status for this error (see :class:`StoreReason`). O(1)."""
        return self.reason.exit_status

    def _render(self) -> str:
        path, detail = self.path, self.detail
        match self.reason:
            case StoreReason.MISSING:
                return (
                    f"no state file {path}; start a machine with `physseg boot MAP`"
                    " (or pass --state PATH)"
                )
            case StoreReason.BUSY:
                return (
                    f"state file {path} is busy: another physseg held its write lock for"
                    f" {BUSY_TIMEOUT_S:g} s; nothing was changed, try again"
                )
            case StoreReason.WRITE_FAILED:
                return f"cannot write state file {path} ({detail}); nothing was changed"
            case StoreReason.TOO_LARGE:
                return f"state file {path} cannot hold the machine ({detail}); nothing was changed"
            case StoreReason.NEWER_SCHEMA:
                what = (
                    f"has schema version {self.schema}, written by {self.written_by};"
                    f" this physseg {__version__} reads version {SCHEMA_VERSION} and older;"
                    " upgrade physseg or use another --state file"
                )
            case StoreReason.DIRECTORY | StoreReason.FIFO | StoreReason.SOCKET:
                what = f"is a {_KIND_NAMES[self.reason]}, not a physseg machine"
            case StoreReason.DEVICE:
                what = f"is a {detail} device, not a physseg machine"
            case StoreReason.NOT_REGULAR:
                what = "is not a regular file, not a physseg machine"
            case StoreReason.UNREADABLE:
                what = f"cannot be read ({detail})"
            case StoreReason.NOT_SQLITE:
                what = f"is not a physseg machine ({detail})"
            case StoreReason.NOT_PHYSSEG:
                what = f"is a SQLite database but not a physseg machine ({detail})"
            case StoreReason.CORRUPT:
                what = f"is corrupt ({detail})"
            case StoreReason.INVALID:
                what = f"holds an invalid value: {detail}"
            case _:
                what = f"does not rebuild the machine it records: {detail}"
        return f"state file {path} {what}; it was not changed"


_KIND_NAMES: Final = {
    StoreReason.DIRECTORY: "directory",
    StoreReason.FIFO: "FIFO",
    StoreReason.SOCKET: "socket",
}


def _sqlite_error(path: Path, exc: sqlite3.Error, *, writing: bool) -> StoreError:
    """The :class:`StoreError` for a failed SQLite call, chosen by its result code."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    detail = shorten(" ".join(str(exc).split()))  # it may quote the file's bytes
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreError(path, StoreReason.BUSY, detail)
    if code == sqlite3.SQLITE_TOOBIG:
        return StoreError(path, StoreReason.INVALID, f"a value over {MAX_VALUE_BYTES} bytes")
    io_codes = (
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_NOMEM,
    )
    if code in io_codes:
        reason = StoreReason.WRITE_FAILED if writing else StoreReason.UNREADABLE
        return StoreError(path, reason, detail)
    return StoreError(path, StoreReason.CORRUPT, detail)


# --------------------------------------------------------------------------- the path
def checked_path(path: Path) -> Path | None:
    """The real path of the state file at ``path`` (symlinks resolved), after checking it is
    a regular file that starts with the SQLite header; ``None`` when nothing is there.

    Raises ``StoreError`` (DIRECTORY, DEVICE, FIFO, SOCKET, NOT_REGULAR, UNREADABLE,
    NOT_SQLITE) and never opens anything but a regular file, never for writing, never
    blocking (``O_NONBLOCK``). O(1): at most 100 bytes are read."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(path, StoreReason.UNREADABLE, exc.strerror or str(exc)) from None
    _check_kind(path, info.st_mode)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
        try:
            _check_kind(path, os.fstat(fd).st_mode)
            head = os.read(fd, 100)
        finally:
            os.close(fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(path, StoreReason.UNREADABLE, exc.strerror or str(exc)) from None
    if not head:
        raise StoreError(path, StoreReason.NOT_SQLITE, "it is empty")
    if not head.startswith(SQLITE_HEADER):
        raise StoreError(path, StoreReason.NOT_SQLITE, "no SQLite header")
    if len(head) < 100:
        raise StoreError(path, StoreReason.CORRUPT, "truncated in its SQLite header")
    return Path(os.path.realpath(path))


def _check_kind(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise StoreError(path, StoreReason.DIRECTORY)
    if stat.S_ISCHR(mode):
        raise StoreError(path, StoreReason.DEVICE, "character")
    if stat.S_ISBLK(mode):
        raise StoreError(path, StoreReason.DEVICE, "block")
    if stat.S_ISFIFO(mode):
        raise StoreError(path, StoreReason.FIFO)
    if stat.S_ISSOCK(mode):
        raise StoreError(path, StoreReason.SOCKET)
    raise StoreError(path, StoreReason.NOT_REGULAR)


def _connect(real: Path, *, write: bool) -> sqlite3.Connection:
    """A connection to the database file ``real`` (which exists), never creating it:
    read-only (``mode=ro``) unless ``write``. Untrusted-schema features are off, values are
    capped at :data:`MAX_VALUE_BYTES`, and a writer commits with ``synchronous = FULL``."""
    uri = f"{real.as_uri()}?mode={'rw' if write else 'ro'}"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("PRAGMA cell_size_check = ON")
        if write:
            conn.execute("PRAGMA synchronous = FULL")
    except BaseException:
        conn.close()
        raise
    return conn


# --------------------------------------------------------------------------- the schema
def _expected_objects() -> list[tuple[Any, ...]]:
    """``sqlite_master`` of an empty machine database, made afresh in memory. O(1)."""
    conn = sqlite3.connect(":memory:")
    try:
        for statement in SCHEMA:
            conn.execute(statement)
        return _objects(conn)
    finally:
        conn.close()


def _objects(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return conn.execute(
        "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name LIMIT 100"
    ).fetchall()


def _meta(conn: sqlite3.Connection) -> dict[str, object]:
    rows = conn.execute(
        "SELECT substr(key, 1, 64), substr(value, 1, ?) FROM meta LIMIT 64", (MAX_NAME_CHARS,)
    ).fetchall()
    return dict(rows)


def _check_schema(conn: sqlite3.Connection, path: Path) -> dict[str, object]:
    """Raise ``StoreError`` unless the database is a physseg machine of a schema this
    physseg reads, with exactly the expected tables; return its ``meta``. O(1)."""
    (app_id,) = conn.execute("PRAGMA application_id").fetchone()
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if app_id != APPLICATION_ID:
        raise StoreError(path, StoreReason.NOT_PHYSSEG, f"application id {app_id:#x}")
    if version > SCHEMA_VERSION:
        try:
            written_by = str(_meta(conn).get("written_by", "a newer physseg"))
        except sqlite3.Error:
            written_by = "a newer physseg"
        raise StoreError(path, StoreReason.NEWER_SCHEMA, schema=version, written_by=written_by)
    if version < 1:
        raise StoreError(path, StoreReason.INVALID, f"schema version {version}")
    if _objects(conn) != _expected_objects():
        raise StoreError(path, StoreReason.INVALID, "its tables are not physseg's")
    meta = _meta(conn)
    if meta.get("format") != FORMAT_NAME or meta.get("schema") != str(version):
        raise StoreError(path, StoreReason.INVALID, "meta does not name a physseg machine")
    every = meta.get("checkpoint_every")
    if not (isinstance(every, str) and every.isdigit() and len(every) <= 8):
        raise StoreError(path, StoreReason.INVALID, "meta.checkpoint_every is not a number")
    try:
        check_int("meta.checkpoint_every", int(every), 1, MAX_CHECKPOINT_EVERY)
    except ValueError as exc:
        raise StoreError(path, StoreReason.INVALID, str(exc)) from None
    return meta


def _checked_snapshot(path: Path, config: MachineConfig, mem: PhysMem) -> Snapshot:
    """``mem``'s snapshot, which the store must be able to read back (``TOO_LARGE``
    otherwise: a machine beyond the stated limits is not saved)."""
    snapshot = mem.snapshot()
    try:
        check_snapshot(config, snapshot)
    except ValueError as exc:
        raise StoreError(path, StoreReason.TOO_LARGE, str(exc)) from None
    return snapshot


def _pause(what: str) -> None:
    pause = os.environ.get(PAUSE_ENV)
    if pause:
        print(f"physseg: paused before {what}", file=sys.stderr, flush=True)
        time.sleep(float(pause))


def _due(rows_since: int, ops: Iterable[TraceOp], every: int) -> bool:
    """Whether a transaction that leaves ``rows_since`` journal rows after the newest
    checkpoint, having journaled ``ops``, writes a checkpoint: when ``rows_since`` reaches
    ``every``, or when it booted the machine (``init``, whose replay costs every page)."""
    return rows_since >= every or any(isinstance(op, Init) for op in ops)


def _image(path: Path, mem: PhysMem) -> KernelImage:
    """``mem``'s image, which a checkpoint must be able to hold (``TOO_LARGE`` otherwise)."""
    try:
        image = mem.image()
    except ImageError as exc:
        raise StoreError(path, StoreReason.TOO_LARGE, str(exc)) from None
    if image_bytes(image) > MAX_IMAGE_BYTES:
        raise StoreError(path, StoreReason.TOO_LARGE, f"its image is over {MAX_IMAGE_BYTES} bytes")
    return image


def _tail(
    conn: sqlite3.Connection, state: MachineState, every: int
) -> tuple[int, list[tuple[int, TraceOp]]]:
    """The newest checkpoint's journal row and the rows after it, parsed: fewer than
    ``every`` and no ``init`` (the transaction that journals either writes a checkpoint), and
    the checkpoint not past the journal. Raises ``ValueError``. O(rows after it)."""
    start = newest_checkpoint(conn)
    if start > state.operations:
        raise ValueError(
            f"the checkpoint follows journal row {start}, past the journal's"
            f" {state.operations} rows"
        )
    tail: list[tuple[int, TraceOp]] = []
    for seq, op in read_journal(conn, after=start):
        if len(tail) + 1 >= every:
            raise ValueError(
                f"{state.operations - start} journal rows follow the newest checkpoint;"
                f" a machine has fewer than {every}"
            )
        if isinstance(op, Init):
            raise ValueError(f"journal row {seq} boots the machine after its checkpoint")
        tail.append((seq, op))
    return start, tail


def _restore(conn: sqlite3.Connection, state: MachineState, start: int) -> PhysMem:
    """The machine of the checkpoint after journal row ``start`` (a fresh one of the
    configuration when ``start`` is 0). Raises ``ValueError``: a checkpoint unreadable, of
    another configuration, or refused by the engine (``ImageError``)."""
    if start == 0:
        return state.config.new_machine()
    image = read_checkpoint(conn, start)
    config = state.config
    expected = {
        "backend": config.backend,
        "physseg_max": config.physseg_max,
        "strategy": config.strategy,
        "nfreelist": config.nfreelist,
        "page_shift": config.page_shift,
    }
    if image.meta.get("config") != expected:
        raise ValueError(f"the checkpoint after journal row {start} is of another machine")
    try:
        return PhysMem.from_image(image)
    except ImageError as exc:
        raise ValueError(f"the checkpoint after journal row {start}: {exc}") from None


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True, slots=True)
class Reader:
    """A read transaction on a machine database (see :func:`reading`)."""

    conn: sqlite3.Connection
    path: Path

    def state(self) -> MachineState:
        """The saved machine: configuration, map, free-list names, snapshot and journal
        length, every value checked, and the journal rows a writer would replay (those after
        the newest checkpoint) parsed, so a file a writer would refuse is refused here too.
        Raises ``StoreError`` (INVALID, CORRUPT). O(segments + extent regions + map ranges
        + rows after the newest checkpoint)."""
        try:
            state = read_state(self.conn)
            every = int(str(_check_schema(self.conn, self.path)["checkpoint_every"]))
            start, _ = _tail(self.conn, state, every)
            if start:
                check_checkpoint(self.conn, start)
        except ValueError as exc:
            raise StoreError(self.path, StoreReason.INVALID, str(exc)) from None
        return state

    def journal(self) -> Iterator[TraceOp]:
        """Every journal row in order, parsed and checked (streamed). Raises ``StoreError``
        (INVALID, CORRUPT). O(rows)."""
        try:
            for _, op in read_journal(self.conn):
                yield op
        except ValueError as exc:
            raise StoreError(self.path, StoreReason.INVALID, str(exc)) from None


@contextlib.contextmanager
def reading(path: Path) -> Iterator[Reader]:
    """A read-only transaction on the machine at ``path``: everything read inside sees one
    committed state, and no writer waits for it (WAL).

    Raises ``StoreError``: MISSING when there is no file, the refusals of
    :func:`checked_path`, NOT_PHYSSEG, NEWER_SCHEMA, INVALID, CORRUPT. O(1) to open."""
    real = checked_path(path)
    if real is None:
        raise StoreError(path, StoreReason.MISSING)
    try:
        conn = _connect(real, write=False)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc, writing=False) from None
    try:
        conn.execute("BEGIN")
        _check_schema(conn, path)
        yield Reader(conn, path)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc, writing=False) from None
    finally:
        conn.close()


def read_machine(path: Path) -> MachineState:
    """The saved machine at ``path`` (see :meth:`Reader.state`), without building the engine.
    Raises what :func:`reading` raises. O(segments + extent regions + map ranges)."""
    with reading(path) as reader:
        return reader.state()


# --------------------------------------------------------------------------- writing
class Transaction:
    """A write transaction on a machine database, holding its write lock (see
    :func:`transaction`)."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path, meta: dict[str, object], *, write: bool
    ) -> None:
        self._conn = conn
        self._path = path
        self._every = int(str(meta["checkpoint_every"]))
        self._write = write
        self._state: MachineState | None = None
        self._checkpoint = 0

    def load(self) -> tuple[MachineState, PhysMem]:
        """The newest saved machine and a ``PhysMem`` in exactly its state: the newest
        checkpoint restored (:meth:`PhysMem.from_image`; the configuration's fresh machine
        when there is none) and the journal rows after it replayed (fewer than
        ``checkpoint_every``), then checked against the saved snapshot. Raises
        ``StoreError``: INVALID (a bad value, journal row or checkpoint), MISMATCH (a row
        fails, or the result differs from the snapshot). O(restoring the image + replaying
        the rows + segments + extent regions)."""
        path = self._path
        try:
            state = read_state(self._conn)
            start, tail = _tail(self._conn, state, self._every)
            mem = _restore(self._conn, state, start)
        except ValueError as exc:
            raise StoreError(path, StoreReason.INVALID, str(exc)) from None
        for seq, op in tail:
            try:
                apply_op(mem, op)
            except (PhysSegError, TraceCheckError) as exc:
                raise StoreError(
                    path, StoreReason.MISMATCH, f"journal row {seq} fails ({exc})"
                ) from None
        if mem.snapshot() != state.snapshot:
            raise StoreError(
                path,
                StoreReason.MISMATCH,
                f"replaying its {len(tail)} journal rows after its checkpoint gives another"
                " machine than the snapshot saved with them",
            )
        self._state = state
        self._checkpoint = start
        return state, mem

    def append(self, mem: PhysMem, ops: Iterable[TraceOp]) -> MachineState:
        """Record that ``ops`` (``find`` skipped) were applied to the loaded machine, giving
        ``mem``: their journal rows, ``mem``'s snapshot, and ``mem``'s image as the new
        checkpoint when one is due (``checkpoint_every`` rows since the last one, or an
        ``init`` among ``ops``); returns the new state. Raises ``StoreError`` (TOO_LARGE)
        for a machine beyond the store's limits; ``RuntimeError`` before :meth:`load` or in
        a read-only transaction. O(ops + segments + extent regions), plus the image when a
        checkpoint is due."""
        if self._state is None or not self._write:
            raise RuntimeError("Transaction.append needs a loaded write transaction")
        state = self._state
        ops = list(ops)
        snapshot = _checked_snapshot(self._path, state.config, mem)
        seq = append_journal(self._conn, state.operations, ops)
        write_snapshot(self._conn, snapshot, seq)
        if _due(seq - self._checkpoint, ops, self._every):
            write_checkpoint(self._conn, seq, _image(self._path, mem))
            self._checkpoint = seq
        self._conn.execute("UPDATE meta SET value = ? WHERE key = 'written_by'", (_WRITER,))
        self._state = replace(state, snapshot=snapshot, operations=seq)
        return self._state


@contextlib.contextmanager
def transaction(path: Path, *, write: bool = True) -> Iterator[Transaction]:
    """A write transaction on the machine at ``path``: the file is checked on a read-only
    connection, then opened for writing with ``BEGIN IMMEDIATE`` (waiting up to
    :data:`BUSY_TIMEOUT_S` for another writer) and checked again inside the lock. The body
    calls :meth:`Transaction.load` and :meth:`Transaction.append`; leaving it normally
    commits (durably), an exception rolls everything back. With ``write=False`` (a dry run)
    it is a read transaction on a read-only connection that only loads.

    Raises ``StoreError``: what :func:`reading` raises, BUSY after the timeout,
    WRITE_FAILED when the commit cannot be written. O(1) besides what the body does."""
    with reading(path):  # validate read-only before any connection may write
        pass
    real = checked_path(path)
    if real is None:
        raise StoreError(path, StoreReason.MISSING)
    with _locked(path, real, write=write) as (conn, meta):
        yield Transaction(conn, path, meta, write=write)


@contextlib.contextmanager
def _locked(path: Path, real: Path, *, write: bool) -> Iterator[tuple[sqlite3.Connection, Any]]:
    """A connection to ``real`` inside ``BEGIN IMMEDIATE`` (``BEGIN`` when not writing), the
    schema checked again inside the lock; yields the connection and the schema's meta.
    Leaving normally commits (after the test pause when writing), any exception rolls back;
    SQLite's errors become ``StoreError`` naming ``path``; the connection is always closed."""
    try:
        conn = _connect(real, write=write)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc, writing=write) from None
    try:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn, _check_schema(conn, path)
            if write:
                _pause(f"committing to {path}")
            conn.execute("COMMIT")
        except BaseException:
            conn.rollback()
            raise
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc, writing=write) from None
    finally:
        conn.close()


_WRITER: Final = f"physseg {__version__}"


@dataclass(frozen=True, slots=True)
class _NewMachine:
    """What :func:`save_new` writes: the machine, its snapshot, its journal and, when one is
    due, its image (all taken before the write lock)."""

    state: MachineState
    snapshot: Snapshot
    ops: list[TraceOp]
    image: KernelImage | None

    def fill(self, conn: sqlite3.Connection) -> int:
        """Write the whole machine into the empty tables; returns its journal length."""
        write_machine(conn, self.state)
        seq = append_journal(conn, 0, self.ops)
        write_snapshot(conn, self.snapshot, seq)
        if self.image is not None:
            write_checkpoint(conn, seq, self.image)
        return seq


def save_new(path: Path, state: MachineState, mem: PhysMem, ops: list[TraceOp]) -> MachineState:
    """Make the machine at ``path`` the one ``ops`` (``find`` skipped) built on a fresh
    machine of ``state.config``, giving ``mem`` (``boot``, ``replay --fresh``): a new file,
    or every row of an existing machine replaced in one transaction. Returns the saved state.

    A new file is written under a temporary name in the target's directory and hard-linked
    into place, so the path is never a partial database (and two commands creating it at
    once do not clobber each other: the second replaces the first's rows). A symlinked path
    keeps its link. Raises ``StoreError`` (anything :func:`transaction` raises but MISSING;
    a file that is not a physseg machine is never touched), ``OSError`` from creating the
    file. O(ops + segments + extent regions)."""
    try:
        state.config.check()
        check_freelists(state.config, state.freelists)
        if state.map_info is not None:
            check_map_info(state.map_info)
    except ValueError as exc:
        raise StoreError(path, StoreReason.TOO_LARGE, str(exc)) from None
    snapshot = _checked_snapshot(path, state.config, mem)
    ops = [op for op in ops if not isinstance(op, Find)]
    image = _image(path, mem) if _due(len(ops), ops, CHECKPOINT_EVERY) else None
    new = _NewMachine(state, snapshot, ops, image)
    for _ in range(3):
        real = checked_path(path)
        if real is None:
            try:
                seq = _create(path, new)
            except FileExistsError:
                continue
            return replace(state, snapshot=snapshot, operations=seq)
        with reading(path):
            pass
        with _locked(path, real, write=True) as (conn, _):
            for table in DATA_TABLES:
                conn.execute(f"DELETE FROM {table}")  # a fixed table name
            seq = new.fill(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'written_by'", (_WRITER,))
        return replace(state, snapshot=snapshot, operations=seq)
    raise StoreError(path, StoreReason.BUSY, "created and removed by others meanwhile")


def _create(path: Path, new: _NewMachine) -> int:
    """Write a new machine database to a temporary file next to ``path``'s target and link
    it into place. Raises ``FileExistsError`` when something appeared at the path meanwhile
    (nothing was changed), ``OSError``, ``StoreError`` (WRITE_FAILED)."""
    target = Path(os.path.realpath(path))
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as exc:
        raise StoreError(path, StoreReason.WRITE_FAILED, exc.strerror or str(exc)) from None
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        try:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in SCHEMA:
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                (
                    ("format", FORMAT_NAME),
                    ("schema", str(SCHEMA_VERSION)),
                    ("created_by", _WRITER),
                    ("written_by", _WRITER),
                    ("checkpoint_every", str(CHECKPOINT_EVERY)),
                ),
            )
            seq = new.fill(conn)
            conn.execute("COMMIT")
        finally:
            conn.close()
        _pause(f"linking {tmp.name} to {path}")
        _link(tmp, target)
    except sqlite3.Error as exc:
        raise _sqlite_error(path, exc, writing=True) from None
    except FileExistsError:
        raise
    except OSError as exc:
        raise StoreError(path, StoreReason.WRITE_FAILED, exc.strerror or str(exc)) from None
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
            leftover.unlink(missing_ok=True)
    _fsync_directory(target.parent)
    return seq


def _link(tmp: Path, target: Path) -> None:
    """Give the finished file ``tmp`` the name ``target`` unless something has it: a hard link
    (atomic: ``FileExistsError`` if the name is taken), or on a file system without hard
    links a rename after checking the name is free (a command creating the same file in
    between would lose its machine to this one)."""
    try:
        os.link(tmp, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
        if os.path.lexists(target):
            raise FileExistsError(errno.EEXIST, "exists", str(target)) from None
        os.rename(tmp, target)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_machine(path: Path, *, missing_ok: bool = False) -> None:
    """Succeed when ``path`` holds a valid physseg machine this physseg reads (or nothing,
    when ``missing_ok``: where :func:`save_new` may create one). A command calls it to refuse
    a bad file before doing any work. Raises what :meth:`Reader.state` raises (a file that is
    not a valid machine, or a newer one, is never replaced). O(what :meth:`Reader.state`
    costs)."""
    if missing_ok and checked_path(path) is None:
        return
    with reading(path) as reader:
        reader.state()
