"""The tables of a machine database (:mod:`physseg.cli.store`): their schema, and every row
read back (each value checked, within bounds) or written.

Reading never trusts the file: texts are fetched cut one character past their limit
(``substr``), row counts are capped with ``LIMIT``, every value is checked with the checks of
:mod:`physseg.cli.state` (the face's bounds), and each journal row is parsed by the trace
parser, so a row costs bounded memory whatever the file holds. The readers raise
``ValueError`` naming the first bad value; the store turns it into its ``StoreError``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from typing import Final

from physseg.cli.state import (
    MAX_EXTENT_REGIONS,
    MAX_MAP_RANGES,
    MAX_NAME_CHARS,
    MAX_SEGMENTS,
    MAX_WARNING_CHARS,
    MAX_WARNINGS,
    FreeListName,
    MachineConfig,
    MachineState,
    MapInfo,
    MapRange,
    check_freelists,
    check_int,
    check_map_info,
    check_snapshot,
)
from physseg.cli.trace import JSONL, Find, TraceOp, TraceParseError, format_op, parse_line
from physseg.physmem import Segment, SegmentState, Snapshot

MAX_OP_CHARS: Final = 512
"""The longest journal row read (a written one is under 150 characters)."""

SCHEMA: Final = (
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT",
    "CREATE TABLE machine (id INTEGER PRIMARY KEY CHECK (id = 1), backend TEXT NOT NULL,"
    " physseg_max INTEGER NOT NULL, strategy TEXT NOT NULL, nfreelist INTEGER NOT NULL,"
    " page_shift INTEGER NOT NULL, map_name TEXT, map_source TEXT, map_format TEXT) STRICT",
    "CREATE TABLE map_ranges (ord INTEGER PRIMARY KEY, start_addr TEXT NOT NULL,"
    " end_addr TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL) STRICT",
    "CREATE TABLE map_warnings (ord INTEGER PRIMARY KEY, text TEXT NOT NULL) STRICT",
    "CREATE TABLE freelists (idx INTEGER PRIMARY KEY, name TEXT NOT NULL,"
    " limit_addr TEXT NOT NULL) STRICT",
    "CREATE TABLE journal (seq INTEGER PRIMARY KEY, op TEXT NOT NULL) STRICT",
    "CREATE TABLE state (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL,"
    " booted INTEGER NOT NULL, npages INTEGER NOT NULL, physmem INTEGER NOT NULL) STRICT",
    "CREATE TABLE segments (ord INTEGER PRIMARY KEY, start_pfn INTEGER NOT NULL,"
    " end_pfn INTEGER NOT NULL, avail_start INTEGER NOT NULL, avail_end INTEGER NOT NULL,"
    " free_list INTEGER NOT NULL, start_hint INTEGER NOT NULL, slab INTEGER NOT NULL,"
    " slab_index INTEGER NOT NULL) STRICT",
    "CREATE TABLE extents (ord INTEGER PRIMARY KEY, slab INTEGER NOT NULL,"
    " destroyed INTEGER NOT NULL) STRICT",
    "CREATE TABLE extent_regions (extent INTEGER NOT NULL, ord INTEGER NOT NULL,"
    " start INTEGER NOT NULL, size INTEGER NOT NULL, PRIMARY KEY (extent, ord)) STRICT",
    "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, meta TEXT NOT NULL) STRICT",
    "CREATE TABLE checkpoint_arrays (seq INTEGER NOT NULL, name TEXT NOT NULL,"
    " part INTEGER NOT NULL, dtype TEXT NOT NULL, length INTEGER NOT NULL,"
    " data BLOB NOT NULL, PRIMARY KEY (seq, name, part)) STRICT",
)
DATA_TABLES: Final = (
    "machine",
    "map_ranges",
    "map_warnings",
    "freelists",
    "journal",
    "state",
    "segments",
    "extents",
    "extent_regions",
    "checkpoints",
    "checkpoint_arrays",
)
"""Every table but ``meta``: what replacing a machine empties."""


def _hex(name: str, value: object) -> int:
    if not (
        isinstance(value, str)
        and value.startswith("0x")
        and 3 <= len(value) <= 19
        and all(ch in "0123456789abcdef" for ch in value[2:])
    ):
        raise ValueError(f"{name} is not a hex address: {value!r:.40}")
    return int(value, 16)


def _flag(name: str, value: object) -> bool:
    return bool(check_int(name, value, 0, 1))


def _read_config(conn: sqlite3.Connection) -> tuple[MachineConfig, MapInfo | None]:
    rows = conn.execute(
        "SELECT substr(backend, 1, ?1), physseg_max, substr(strategy, 1, ?1), nfreelist,"
        " page_shift, substr(map_name, 1, ?1), substr(map_source, 1, ?1),"
        " substr(map_format, 1, ?1) FROM machine LIMIT 2",
        (MAX_NAME_CHARS + 1,),
    ).fetchall()
    if len(rows) != 1:
        raise ValueError(f"the machine table has {len(rows)} rows, not 1")
    backend, physseg_max, strategy, nfreelist, page_shift, name, source, fmt = rows[0]
    config = MachineConfig(backend, physseg_max, strategy, nfreelist, page_shift)
    config.check()
    if name is None and source is None and fmt is None:
        return config, None
    ranges = conn.execute(
        "SELECT substr(start_addr, 1, 20), substr(end_addr, 1, 20), substr(kind, 1, ?1),"
        " substr(label, 1, ?1) FROM map_ranges ORDER BY ord LIMIT ?2",
        (MAX_NAME_CHARS + 1, MAX_MAP_RANGES + 1),
    ).fetchall()
    warnings = conn.execute(
        "SELECT substr(text, 1, ?) FROM map_warnings ORDER BY ord LIMIT ?",
        (MAX_WARNING_CHARS + 1, MAX_WARNINGS + 1),
    ).fetchall()
    info = MapInfo(
        name,
        source,
        fmt,
        tuple(
            MapRange(_hex("map range start", a), _hex("map range end", b), kind, label)
            for a, b, kind, label in ranges
        ),
        tuple(text for (text,) in warnings),
    )
    check_map_info(info)
    return config, info


def _read_freelists(conn: sqlite3.Connection, config: MachineConfig) -> tuple[FreeListName, ...]:
    rows = conn.execute(
        "SELECT idx, substr(name, 1, ?), substr(limit_addr, 1, 20) FROM freelists"
        " ORDER BY idx LIMIT ?",
        (MAX_NAME_CHARS + 1, config.nfreelist + 1),
    ).fetchall()
    freelists = tuple(
        FreeListName(index, name, _hex("free list limit", limit)) for index, name, limit in rows
    )
    check_freelists(config, freelists)
    return freelists


def _read_snapshot(conn: sqlite3.Connection, config: MachineConfig) -> tuple[Snapshot, int]:
    """The saved snapshot and the journal row it is of."""
    rows = conn.execute("SELECT seq, booted, npages, physmem FROM state LIMIT 2").fetchall()
    if len(rows) != 1:
        raise ValueError(f"the state table has {len(rows)} rows, not 1")
    seq, booted, npages, physmem = rows[0]
    segments = tuple(
        SegmentState(Segment(*row[:6]), row[6], row[7])
        for row in conn.execute(
            "SELECT start_pfn, end_pfn, avail_start, avail_end, free_list, start_hint, slab,"
            " slab_index FROM segments ORDER BY ord LIMIT ?",
            (MAX_SEGMENTS + 1,),
        )
    )
    if len(segments) > MAX_SEGMENTS:
        raise ValueError(f"more than {MAX_SEGMENTS} segments")
    extents = conn.execute(
        "SELECT ord, slab, destroyed FROM extents ORDER BY ord LIMIT ?", (MAX_EXTENT_REGIONS,)
    ).fetchall()
    regions: dict[int, list[tuple[int, int]]] = {ord_: [] for ord_, _, _ in extents}
    cursor = conn.execute(
        "SELECT extent, start, size FROM extent_regions ORDER BY extent, ord LIMIT ?",
        (MAX_EXTENT_REGIONS + 1,),
    )
    for count, (extent, start, size) in enumerate(cursor):
        if count >= MAX_EXTENT_REGIONS or extent not in regions:
            raise ValueError(f"extent region of extent {extent!r:.20} is out of place")
        regions[extent].append((start, size))
    snapshot = Snapshot(
        config.backend,
        _flag("state.booted", booted),
        segments,
        npages,
        physmem,
        tuple(
            (slab, _flag("extent destroyed", destroyed), tuple(regions[ord_]))
            for ord_, slab, destroyed in extents
        ),
    )
    check_snapshot(config, snapshot)
    return snapshot, check_int("state.seq", seq, 0, 1 << 62)


def journal_length(conn: sqlite3.Connection) -> int:
    """The number of journal rows, which must be numbered 1, 2, ... with no gap
    (``ValueError`` otherwise). O(rows), in SQLite."""
    count, first, last = conn.execute(
        "SELECT count(*), coalesce(min(seq), 1), coalesce(max(seq), 0) FROM journal"
    ).fetchone()
    if first != 1 or last != count:
        raise ValueError(f"the journal's {count} rows are not numbered 1 to {count}")
    return int(count)


def screen_journal(conn: sqlite3.Connection) -> None:
    """Check every journal row in SQL, without parsing it in Python: at most
    :data:`MAX_OP_CHARS` characters of valid JSON, an object whose ``"op"`` changes the
    machine. ``ValueError`` names the first row that is not. O(rows), about 0.5 us a row in
    SQLite: the rows a writer replays are parsed in full by :func:`read_journal`, the older
    ones only by the commands that read them all (``map``, ``export``)."""
    row = conn.execute(
        "SELECT seq FROM journal WHERE CASE WHEN length(op) > ? THEN 1"
        " WHEN NOT json_valid(op) THEN 1 WHEN json_type(op) != 'object' THEN 1"
        " WHEN json_extract(op, '$.op') IN ('physload', 'init', 'plug', 'unplug') THEN 0"
        " ELSE 1 END ORDER BY seq LIMIT 1",
        (MAX_OP_CHARS,),
    ).fetchone()
    if row is not None:
        raise ValueError(
            f"journal row {row[0]} is not an operation (a JSON object of at most"
            f" {MAX_OP_CHARS} characters)"
        )


def read_state(conn: sqlite3.Connection) -> MachineState:
    """The whole :class:`MachineState`, every value checked (the journal's rows screened by
    :func:`screen_journal`); ``ValueError`` names the first bad one. O(segments + extent
    regions + map + journal rows in SQL)."""
    config, info = _read_config(conn)
    freelists = _read_freelists(conn, config)
    snapshot, seq = _read_snapshot(conn, config)
    operations = journal_length(conn)
    screen_journal(conn)
    if seq != operations:
        raise ValueError(f"the snapshot is of journal row {seq} but the journal has {operations}")
    return MachineState(config, snapshot, info, freelists, operations)


def read_journal(conn: sqlite3.Connection, after: int = 0) -> Iterator[tuple[int, TraceOp]]:
    """The journal rows after row ``after`` with their numbers, in order, each parsed by the
    trace parser (streamed: O(1) memory). Raises ``ValueError`` naming a bad row: one
    missing, too long, not an operation, or a ``find``. O(rows read)."""
    cursor = conn.execute(
        "SELECT seq, CASE WHEN length(op) <= ? THEN op END FROM journal WHERE seq > ? ORDER BY seq",
        (MAX_OP_CHARS, after),
    )
    expected = after + 1
    for seq, text in cursor:
        if seq != expected:
            raise ValueError(f"journal row {expected} is missing")
        if not isinstance(text, str):
            raise ValueError(f"journal row {seq} is not a short text")
        try:
            op = parse_line(text, JSONL, line_no=seq, source="journal")
        except TraceParseError as exc:
            raise ValueError(f"journal row {seq}: {exc.reason}") from None
        if op is None or isinstance(op, Find):
            raise ValueError(f"journal row {seq} holds no operation that changes the machine")
        yield seq, op
        expected += 1


def newest_checkpoint(conn: sqlite3.Connection) -> int:
    """The journal row the newest checkpoint follows (0: none; the journal replays from its
    first row). O(log checkpoints)."""
    (seq,) = conn.execute("SELECT coalesce(max(seq), 0) FROM checkpoints").fetchone()
    return check_int("checkpoint row", seq, 0, 1 << 62)


# --------------------------------------------------------------------------- writing rows
def write_machine(conn: sqlite3.Connection, state: MachineState) -> None:
    """Insert ``state``'s configuration, map and free-list names into the empty tables.
    O(map ranges + warnings + free lists)."""
    config, info = state.config, state.map_info
    conn.execute(
        "INSERT INTO machine VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            config.backend,
            config.physseg_max,
            config.strategy,
            config.nfreelist,
            config.page_shift,
            None if info is None else info.name,
            None if info is None else info.source,
            None if info is None else info.format,
        ),
    )
    if info is not None:
        conn.executemany(
            "INSERT INTO map_ranges VALUES (?, ?, ?, ?, ?)",
            (
                (n, f"{r.start:#x}", f"{r.end:#x}", r.kind, r.label)
                for n, r in enumerate(info.ranges)
            ),
        )
        conn.executemany("INSERT INTO map_warnings VALUES (?, ?)", enumerate(info.warnings))
    conn.executemany(
        "INSERT INTO freelists VALUES (?, ?, ?)",
        ((f.index, f.name, f"{f.limit:#x}") for f in state.freelists),
    )


def write_snapshot(conn: sqlite3.Connection, snapshot: Snapshot, seq: int) -> None:
    """Replace the saved snapshot with ``snapshot``, the machine after journal row ``seq``.
    O(segments + extent regions)."""
    for table in ("segments", "extents", "extent_regions", "state"):
        conn.execute(f"DELETE FROM {table}")  # a fixed table name
    conn.execute(
        "INSERT INTO state VALUES (1, ?, ?, ?, ?)",
        (seq, int(snapshot.booted), snapshot.npages, snapshot.physmem),
    )
    conn.executemany(
        "INSERT INTO segments VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            (
                n,
                s.view.start,
                s.view.end,
                s.view.avail_start,
                s.view.avail_end,
                s.view.free_list,
                s.view.start_hint,
                s.slab,
                s.index,
            )
            for n, s in enumerate(snapshot.segments)
        ),
    )
    conn.executemany(
        "INSERT INTO extents VALUES (?, ?, ?)",
        ((n, slab, int(destroyed)) for n, (slab, destroyed, _) in enumerate(snapshot.extents)),
    )
    conn.executemany(
        "INSERT INTO extent_regions VALUES (?, ?, ?, ?)",
        (
            (n, k, start, size)
            for n, (_, _, regions) in enumerate(snapshot.extents)
            for k, (start, size) in enumerate(regions)
        ),
    )


def append_journal(conn: sqlite3.Connection, after: int, ops: Iterable[TraceOp]) -> int:
    """Append ``ops`` (``find`` skipped) as journal rows ``after + 1``..., each the JSON
    line of :func:`physseg.cli.trace.format_op`; returns the last row's number. O(ops)."""
    rows = [op for op in ops if not isinstance(op, Find)]
    conn.executemany(
        "INSERT INTO journal VALUES (?, ?)",
        ((after + n, format_op(op, JSONL)) for n, op in enumerate(rows, start=1)),
    )
    return after + len(rows)
