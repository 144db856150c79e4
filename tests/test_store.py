"""The machine database: it rebuilds the machine exactly, serialises writers, keeps a symlink,
and refuses (never touching) anything that is not a valid physseg machine."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import socket
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physseg.cli import store
from physseg.cli.state import MachineConfig, MachineState, snapshot_holes, snapshot_stats
from physseg.cli.store import (
    APPLICATION_ID,
    FORMAT_NAME,
    PAUSE_ENV,
    SCHEMA_VERSION,
    StoreError,
    StoreReason,
    check_machine,
    read_machine,
    reading,
    save_new,
    transaction,
)
from physseg.cli.trace import Find, Plug, TraceOp, Unplug, apply_op, op_to_dict
from physseg.errors import PhysSegError, RangeOverlapError
from support.machines import BOOT, FREELISTS, GIB, MAP, MIB, STEAL_BOOT, build, edit, save


def refused(path: Path, reason: StoreReason, match: str = "") -> StoreError:
    """Assert that reading ``path`` raises ``reason`` (its message containing ``match``) and
    leaves the file's bytes as they were; returns the error."""
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(StoreError, match=re.escape(match) or None) as caught:
        read_machine(path)
    assert caught.value.reason is reason, caught.value
    assert caught.value.path == path
    assert "\n" not in str(caught.value)
    if before is not None:
        assert path.read_bytes() == before
    return caught.value


def plug(path: Path, op: TraceOp) -> MachineState:
    """Apply ``op`` to the machine at ``path`` in one write transaction."""
    with transaction(path) as tx:
        _, mem = tx.load()
        apply_op(mem, op)
        return tx.append(mem, [op])


# --------------------------------------------------------------------------- exact rebuild
def test_a_saved_machine_loads_back_equal(tmp_path: Path) -> None:
    ops = [*STEAL_BOOT, Plug(2 * GIB, 64 * MIB), Unplug(2 * GIB + 8 * MIB, 4 * MIB), Find(GIB)]
    saved, mem = save(tmp_path / "m.db", ops)
    with transaction(tmp_path / "m.db") as tx:
        state, again = tx.load()
    assert again.snapshot() == mem.snapshot()
    assert state == saved == read_machine(tmp_path / "m.db")
    assert state.operations == len(ops) - 1  # find is not journaled
    assert (state.map_info, state.freelists) == (MAP, FREELISTS)
    with reading(tmp_path / "m.db") as reader:
        assert list(reader.journal()) == ops[:-1]


def test_snapshot_counters_match_the_live_machine(tmp_path: Path) -> None:
    ops = [*STEAL_BOOT, Plug(2 * GIB, 4 * MIB), Unplug(GIB + 128 * MIB, 4 * MIB)]
    state, mem = save(tmp_path / "m.db", ops)
    assert state.snapshot is not None
    assert snapshot_stats(state.snapshot) == mem.stats()
    assert snapshot_holes(state.snapshot) == mem.holes()


def test_the_same_operations_give_the_same_snapshot_slab_numbers_included() -> None:
    first = build([*BOOT, Plug(2 * GIB, 4 * MIB)])
    second = build([*BOOT, Plug(2 * GIB, 4 * MIB)])
    assert second.snapshot() == first.snapshot()
    assert sorted({s.slab for s in first.snapshot().segments}) == [1, 2]


def test_a_dropped_slab_keeps_its_number_taken() -> None:
    ops: list[TraceOp] = [*BOOT, Plug(2 * GIB, 4 * MIB), Unplug(2 * GIB, 4 * MIB)]
    first = build([*ops, Plug(3 * GIB, 4 * MIB)])
    assert first.snapshot() == build([*ops, Plug(3 * GIB, 4 * MIB)]).snapshot()
    assert [e[0] for e in first.snapshot().extents] == [1, 3]


def test_an_unbooted_machine_keeps_no_page_arrays(tmp_path: Path) -> None:
    save(tmp_path / "m.db", BOOT[:2])
    loaded = read_machine(tmp_path / "m.db")
    assert loaded.snapshot is not None
    assert not loaded.snapshot.booted
    assert {s.slab for s in loaded.snapshot.segments} == {-1}


def test_an_empty_machine_round_trips(tmp_path: Path) -> None:
    config = MachineConfig(backend="static", physseg_max=4)
    save_new(tmp_path / "m.db", MachineState(config), config.new_machine(), [])
    loaded = read_machine(tmp_path / "m.db")
    assert (loaded.config, loaded.map_info, loaded.operations) == (config, None, 0)
    with transaction(tmp_path / "m.db") as tx:
        assert len(tx.load()[1]) == 0


page_ranges = st.tuples(st.integers(0, 63), st.integers(1, 16))


@settings(
    max_examples=min(settings().max_examples, 20),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.booleans(), page_ranges), max_size=10))
def test_any_run_of_plugs_and_unplugs_rebuilds_exactly(
    tmp_path: Path, steps: list[tuple[bool, tuple[int, int]]]
) -> None:
    """Each step is its own transaction on a file checkpointing every 3 rows, so the machine
    is rebuilt from a restored image plus 0 to 2 rows; it must equal the live one."""
    path = tmp_path / f"m{time.monotonic_ns()}.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "CHECKPOINT_EVERY", 3)
        _, live = save(path, BOOT)
    for is_plug, (first, count) in steps:
        addr, size = 4 * GIB + (first << 12), count << 12
        op: TraceOp = Plug(addr, size) if is_plug else Unplug(addr, size)
        try:
            apply_op(live, op)
        except PhysSegError:
            continue
        plug(path, op)
        with transaction(path, write=False) as tx:
            restored = tx.load()[1]
        assert restored.snapshot() == live.snapshot()
        restored.check()


# --------------------------------------------------------------------------- the file
def test_the_file_is_a_strict_sqlite_database_marked_as_a_physseg_machine(tmp_path: Path) -> None:
    save(tmp_path / "m.db", [*BOOT, Plug(2 * GIB, 16 * MIB)])
    with contextlib.closing(sqlite3.connect(tmp_path / "m.db")) as db:
        assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        meta = dict(db.execute("SELECT key, value FROM meta"))
        journal = [row for (row,) in db.execute("SELECT op FROM journal ORDER BY seq")]
        tables = [sql for (sql,) in db.execute("SELECT sql FROM sqlite_master WHERE sql > ''")]
    assert meta["format"] == FORMAT_NAME
    assert meta["schema"] == str(SCHEMA_VERSION)
    assert int(meta["checkpoint_every"]) == store.CHECKPOINT_EVERY
    assert [json.loads(row) for row in journal] == [
        op_to_dict(op) for op in [*BOOT, Plug(2 * GIB, 16 * MIB)]
    ]
    assert all(sql.endswith("STRICT") for sql in tables if sql.startswith("CREATE TABLE"))


def test_a_new_file_appears_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    save(tmp_path / "m.db", BOOT)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("m.db-")) == ["m.db"]


def test_saving_over_a_machine_replaces_every_row(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, [*BOOT, Plug(2 * GIB, 16 * MIB)])
    config = MachineConfig(backend="static", physseg_max=8)
    state, _ = save(path, BOOT[:2], config)
    assert read_machine(path) == state
    assert state.operations == 2
    assert state.config == config


def test_the_pause_hook_announces_itself_before_the_commit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    save(tmp_path / "m.db", BOOT)
    monkeypatch.setenv(PAUSE_ENV, "0.01")
    plug(tmp_path / "m.db", Plug(2 * GIB, 4096))
    save(tmp_path / "n.db", BOOT)
    err = capsys.readouterr().err
    assert "paused before committing to" in err
    assert "paused before linking" in err


def test_a_symlinked_state_keeps_its_link_and_updates_its_target(tmp_path: Path) -> None:
    target = tmp_path / "machines" / "real.db"
    target.parent.mkdir()
    link = tmp_path / "m.db"
    link.symlink_to(target)
    save(link, BOOT)  # a dangling link: the machine is created at its target
    plug(link, Plug(2 * GIB, 4096))
    save(link, BOOT)  # and replaced there
    plug(link, Plug(2 * GIB, 4096))
    assert link.is_symlink()
    assert os.readlink(link) == str(target)
    assert read_machine(target).operations == len(BOOT) + 1


# --------------------------------------------------------------------------- writers
def test_a_second_writer_waits_for_the_first_and_sees_its_row(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    seen: list[int] = []

    def second() -> None:
        seen.append(plug(path, Plug(3 * GIB, 4096)).operations)

    with transaction(path) as first:
        _, mem = first.load()
        apply_op(mem, Plug(2 * GIB, 4096))
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive()  # waiting for the write lock in BEGIN IMMEDIATE
        first.append(mem, [Plug(2 * GIB, 4096)])
    thread.join(timeout=30)
    assert seen == [len(BOOT) + 2]
    with reading(path) as reader:
        assert list(reader.journal())[-2:] == [Plug(2 * GIB, 4096), Plug(3 * GIB, 4096)]


def test_a_busy_machine_fails_after_the_timeout_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    monkeypatch.setattr(store, "BUSY_TIMEOUT_S", 0.2)
    with transaction(path) as first:
        first.load()
        with pytest.raises(StoreError) as caught:
            plug(path, Plug(2 * GIB, 4096))
    assert caught.value.reason is StoreReason.BUSY
    assert caught.value.exit_status == 1
    assert "is busy: another physseg held its write lock for 0.2 s" in str(caught.value)
    assert read_machine(path).operations == len(BOOT)


def test_readers_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    with transaction(path) as tx:
        _, mem = tx.load()
        apply_op(mem, Plug(2 * GIB, 4096))
        tx.append(mem, [Plug(2 * GIB, 4096)])
        assert read_machine(path).operations == len(BOOT)  # the committed state only
    assert read_machine(path).operations == len(BOOT) + 1


def test_a_failed_operation_rolls_the_transaction_back(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    before = read_machine(path)
    with pytest.raises(RangeOverlapError), transaction(path) as tx:
        _, mem = tx.load()
        tx.append(mem, [])
        apply_op(mem, Plug(GIB, 4096))
    assert read_machine(path) == before


def test_a_dry_run_transaction_cannot_append(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    with (
        pytest.raises(RuntimeError, match="loaded write transaction"),
        transaction(path, write=False) as tx,
    ):
        _, mem = tx.load()
        tx.append(mem, [])


def test_a_machine_beyond_the_limits_is_not_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    monkeypatch.setattr("physseg.cli.state.MAX_SEGMENTS", 3)
    with pytest.raises(StoreError) as caught:
        plug(path, Plug(2 * GIB, 4096))
    assert caught.value.reason is StoreReason.TOO_LARGE
    assert caught.value.exit_status == 1
    assert "more than 3 segments" in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only files")
def test_a_read_only_file_fails_to_write_with_exit_status_1(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    path.chmod(0o444)
    with pytest.raises(StoreError) as caught:
        plug(path, Plug(2 * GIB, 4096))
    assert caught.value.reason is StoreReason.WRITE_FAILED
    assert caught.value.exit_status == 1


# --------------------------------------------------------------------------- refusals
def test_a_missing_file_says_how_to_start(tmp_path: Path) -> None:
    error = refused(tmp_path / "nope.db", StoreReason.MISSING, "physseg boot MAP")
    assert error.exit_status == 1
    check_machine(tmp_path / "nope.db", missing_ok=True)


def test_kinds_of_file_that_are_not_machines_are_refused(tmp_path: Path) -> None:
    refused(tmp_path, StoreReason.DIRECTORY, "is a directory, not a physseg machine")
    refused(Path("/dev/null"), StoreReason.DEVICE, "is a character device")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(fifo, StoreReason.FIFO, "is a FIFO")
    sock = tmp_path / "sock"
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as server:
        server.bind(str(sock))
        refused(sock, StoreReason.SOCKET, "is a socket")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    refused(loop, StoreReason.UNREADABLE, "Too many levels of symbolic links")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/full", "/dev/urandom"])
def test_devices_are_refused_without_reading_them(device: str) -> None:
    error = refused(Path(device), StoreReason.DEVICE)
    assert error.exit_status == 2


@pytest.mark.parametrize(
    ("content", "reason", "match"),
    [
        (b"", StoreReason.NOT_SQLITE, "it is empty"),
        (b'{"format": "physseg-state", "version": 2}', StoreReason.NOT_SQLITE, "no SQLite hea"),
        (b"\x80\x04\x95cos\nsystem\n", StoreReason.NOT_SQLITE, "no SQLite header"),
        (b"SQLite format 3\x00" + b"\x10", StoreReason.CORRUPT, "truncated"),
        (b"SQLite format 3\x00" + bytes(4080), StoreReason.CORRUPT, "is corrupt"),
        (b"SQLite format 3\x00" + os.urandom(8192), StoreReason.CORRUPT, "is corrupt"),
    ],
)
def test_files_that_are_not_databases_are_refused(
    tmp_path: Path, content: bytes, reason: StoreReason, match: str
) -> None:
    path = tmp_path / "m.db"
    path.write_bytes(content)
    assert refused(path, reason, match).exit_status == 2


def test_a_truncated_machine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, [*BOOT, *(Plug(4 * GIB + n * MIB, 4096) for n in range(300))])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    refused(path, StoreReason.CORRUPT)


def test_a_machine_with_a_damaged_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, [*BOOT, *(Plug(4 * GIB + n * MIB, 4096) for n in range(300))])
    data = bytearray(path.read_bytes())
    data[4096 * 3 : 4096 * 5] = b"\xff" * 8192
    path.write_bytes(bytes(data))
    refused(path, StoreReason.CORRUPT)


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    edit(path, "CREATE TABLE notes (text TEXT)")
    refused(path, StoreReason.NOT_PHYSSEG, "is a SQLite database but not a physseg machine")
    with pytest.raises(StoreError, match="not a physseg machine"):
        save(path, BOOT)


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    edit(
        path,
        f"PRAGMA user_version = {SCHEMA_VERSION + 1}",
        "UPDATE meta SET value = 'physseg 9.0' WHERE key = 'written_by'",
    )
    error = refused(path, StoreReason.NEWER_SCHEMA, f"has schema version {SCHEMA_VERSION + 1}")
    assert "written by physseg 9.0" in str(error)
    assert f"reads version {SCHEMA_VERSION} and older" in str(error)
    with pytest.raises(StoreError, match="has schema version"):
        save(path, BOOT)


OP = "is not an operation (a JSON object of at most 512 characters)"
"""How the SQL screen of every journal row refuses one."""


@pytest.mark.parametrize(
    ("statements", "match"),
    [
        (["PRAGMA user_version = 0"], "schema version 0"),
        (["CREATE TRIGGER t AFTER INSERT ON journal BEGIN DELETE FROM journal; END"], "tables"),
        (["CREATE VIEW v AS SELECT 1"], "tables are not physseg's"),
        (["DROP TABLE checkpoint_arrays"], "tables are not physseg's"),
        (["UPDATE meta SET value = 'x' WHERE key = 'format'"], "meta does not name"),
        (["DELETE FROM meta WHERE key = 'checkpoint_every'"], "checkpoint_every"),
        (["UPDATE meta SET value = '0' WHERE key = 'checkpoint_every'"], "checkpoint_every is 0"),
        (["UPDATE machine SET page_shift = 40"], "page_shift is 40, not in [9, 30]"),
        (["UPDATE machine SET page_shift = 8"], "page_shift is 8"),
        (["UPDATE machine SET backend = 'btree'"], "unknown backend 'btree'"),
        (["UPDATE machine SET strategy = 'fastest'"], "unknown strategy 'fastest'"),
        (["UPDATE machine SET physseg_max = 1000000000000"], "physseg_max is 1000000000000"),
        (["UPDATE machine SET physseg_max = 0"], "physseg_max is 0"),
        (["UPDATE machine SET nfreelist = 1000"], "nfreelist is 1000"),
        (["UPDATE machine SET backend = 'x' || char(27) || '[2J'"], "backend"),
        (["UPDATE machine SET map_name = 'evil' || char(27) || '[2J'"], "control character"),
        (["UPDATE machine SET map_name = printf('%.300c', 'x')"], "longer than 256"),
        (["DELETE FROM machine"], "0 rows"),
        (["UPDATE map_ranges SET start_addr = '0x'"], "not a hex address"),
        (["UPDATE map_ranges SET end_addr = '0x100000000000000000'"], "not a hex address"),
        (["UPDATE map_ranges SET end_addr = '0x10000000000000001'"], "end is 18446744073709551617"),
        (["UPDATE map_ranges SET kind = 'ram'"], "unknown kind 'ram'"),
        (["UPDATE freelists SET idx = 7 WHERE idx = 3"], "free list number is 7"),
        (["UPDATE segments SET free_list = 9 WHERE ord = 0"], "segment 0 free_list is 9"),
        (["UPDATE segments SET end_pfn = start_pfn WHERE ord = 0"], "segment 0 end"),
        (["UPDATE segments SET end_pfn = 1 << 60 WHERE ord = 0"], "segment 0 end"),
        (["UPDATE segments SET start_pfn = 0x1000, end_pfn = 0x10100"], "overlap"),
        (["UPDATE state SET booted = 2"], "state.booted is 2"),
        (["UPDATE state SET physmem = -1"], "physmem is -1"),
        (["UPDATE state SET seq = 3"], "the snapshot is of journal row 3"),
        (["DELETE FROM journal WHERE seq = 2"], "not numbered 1 to 5"),
        (["UPDATE extents SET slab = 0"], "extent slab is 0"),
        (["INSERT INTO extent_regions VALUES (99, 0, 1, 1)"], "out of place"),
        (['UPDATE journal SET op = \'{"op": "find", "addr": 0}\' WHERE seq = 2'], OP),
        (["UPDATE journal SET op = printf('%.600c', 'x') WHERE seq = 1"], OP),
        (["UPDATE journal SET op = '[1]' WHERE seq = 3"], OP),
        (["UPDATE journal SET op = '{' WHERE seq = 3"], OP),
        (["UPDATE journal SET op = printf('%.100c', '[') WHERE seq = 4"], OP),
        # the rows after the checkpoint (5, 6) are parsed in full
        (['UPDATE journal SET op = \'{"op": "plug"}\' WHERE seq = 5'], "plug needs addr"),
        (
            ['UPDATE journal SET op = \'{"op": "plug", "addr": DIGITS}\' WHERE seq = 5'],
            "journal row 5: an integer of more than 40 digits",
        ),
        (
            ['UPDATE journal SET op = \'{"op": "plug", "addr": NESTED}\' WHERE seq = 5'],
            "journal row 5: JSON nested deeper than 16 levels",
        ),
        (['UPDATE journal SET op = \'{"op": "init"}\' WHERE seq = 6'], "journal row 6 boots"),
        (["DELETE FROM checkpoints"], "boots the machine after its checkpoint"),
        (["UPDATE checkpoints SET seq = 9"], "past the journal's 6 rows"),
        (["UPDATE meta SET value = '2' WHERE key = 'checkpoint_every'"], "2 journal rows follow"),
        (["UPDATE checkpoints SET meta = '[1]'"], "has no meta object"),
        (["UPDATE checkpoints SET meta = printf('%.100c', '[')"], "JSON nested deeper"),
        (["UPDATE checkpoint_arrays SET dtype = 'object'"], "has dtype 'object'"),
        (["UPDATE checkpoint_arrays SET dtype = 'float64'"], "has dtype 'float64'"),
        (["UPDATE checkpoint_arrays SET length = length + 1"], "bytes are not"),
        (["UPDATE checkpoint_arrays SET part = 1"], "is out of place"),
    ],
)
def test_invalid_values_are_refused_naming_them(
    tmp_path: Path, statements: list[str], match: str
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)  # the boot writes a checkpoint after row 4 (its init)
    plug(path, Plug(2 * GIB, 4096))
    plug(path, Plug(3 * GIB, 4096))
    digits, nested = "9" * 60, "[" * 20 + "]" * 20
    edit(path, *(s.replace("DIGITS", digits).replace("NESTED", nested) for s in statements))
    assert refused(path, StoreReason.INVALID, match).exit_status == 2


def test_a_machine_with_too_many_segment_rows_is_refused_before_reading_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    monkeypatch.setattr("physseg.cli.storerows.MAX_SEGMENTS", 2)
    refused(path, StoreReason.INVALID, "more than 2 segments")


def test_a_journal_row_that_fails_is_a_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    plug(path, Plug(2 * GIB, 4096))
    edit(
        path,
        'UPDATE journal SET op = \'{"op": "unplug", "addr": "0x80000000",'
        ' "size": "4K"}\' WHERE seq = 5',
    )
    assert read_machine(path).operations == 5  # readers do not rebuild the engine
    with pytest.raises(StoreError) as caught, transaction(path) as tx:
        tx.load()
    assert caught.value.reason is StoreReason.MISMATCH
    assert "journal row 5 fails (unplug [0x80000000, 0x80001000): address" in str(caught.value)


def test_a_snapshot_the_journal_does_not_build_is_a_mismatch(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    edit(path, "UPDATE state SET npages = npages + 1")
    with pytest.raises(StoreError) as caught, transaction(path) as tx:
        tx.load()
    assert caught.value.reason is StoreReason.MISMATCH
    assert "gives another machine than the snapshot saved" in str(caught.value)


def test_a_value_bigger_than_sqlite_may_return_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    monkeypatch.setattr(store, "MAX_VALUE_BYTES", 1000)
    edit(path, "UPDATE meta SET value = printf('%.5000c', 'x') WHERE key = 'written_by'")
    refused(path, StoreReason.INVALID, "a value over 1000 bytes")


def test_every_error_renders_one_line_from_its_fields(tmp_path: Path) -> None:
    for reason in StoreReason:
        error = StoreError(tmp_path / "m.db", reason, "detail", schema=2, written_by="x")
        assert str(error).startswith(("state file ", "no state file ", "cannot write "))
        assert "\n" not in str(error)
        assert error.exit_status == (1 if reason.name in _OPERATIONAL else 2)


_OPERATIONAL = ("MISSING", "BUSY", "WRITE_FAILED", "TOO_LARGE")


# --------------------------------------------------------------------------- checkpoints
def checkpoints(path: Path) -> list[int]:
    """The journal rows the file's checkpoints follow."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [seq for (seq,) in db.execute("SELECT seq FROM checkpoints ORDER BY seq")]


def test_a_boot_writes_a_checkpoint_an_unbooted_machine_none(tmp_path: Path) -> None:
    save(tmp_path / "booted.db", BOOT)
    save(tmp_path / "loaded.db", BOOT[:2])
    assert checkpoints(tmp_path / "booted.db") == [4]
    assert checkpoints(tmp_path / "loaded.db") == []
    plug(tmp_path / "loaded.db", BOOT[2])
    plug(tmp_path / "loaded.db", BOOT[3])  # the init, journaled by a later command
    assert checkpoints(tmp_path / "loaded.db") == [4]


def test_a_checkpoint_is_written_every_k_rows_and_only_the_newest_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 3)
    path = tmp_path / "m.db"
    save(path, BOOT)
    seen = []
    for n in range(7):
        plug(path, Plug(4 * GIB + n * MIB, 4096))
        seen.append(checkpoints(path))
    assert seen == [[4], [4], [7], [7], [7], [10], [10]]
    with transaction(path, write=False) as tx:
        _, mem = tx.load()
    assert (
        mem.snapshot()
        == build([*BOOT, *(Plug(4 * GIB + n * MIB, 4096) for n in range(7))]).snapshot()
    )


def test_a_file_keeps_the_interval_it_was_created_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 2)
    for n in range(3):
        plug(path, Plug(4 * GIB + n * MIB, 4096))
    assert checkpoints(path) == [4]


def test_a_replay_longer_than_k_checkpoints_once_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "CHECKPOINT_EVERY", 3)
    path = tmp_path / "m.db"
    save(path, BOOT)
    ops = [Plug(4 * GIB + n * MIB, 4096) for n in range(8)]
    with transaction(path) as tx:
        _, mem = tx.load()
        for op in ops:
            apply_op(mem, op)
        tx.append(mem, ops)
    assert checkpoints(path) == [12]


def test_a_checkpoint_of_another_machine_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    edit(path, "UPDATE machine SET physseg_max = 65")
    with (
        pytest.raises(StoreError, match="the checkpoint after journal row 4 is of another"),
        transaction(path) as tx,
    ):
        tx.load()


def test_a_checkpoint_the_engine_refuses_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    edit(
        path,
        "UPDATE checkpoint_arrays SET data = X'02', length = 1 WHERE name = 'phys_addr_step'",
    )
    with pytest.raises(StoreError) as caught, transaction(path) as tx:
        tx.load()
    assert caught.value.reason is StoreReason.INVALID
    assert "the checkpoint after journal row 4: image arrays.phys_addr_step" in str(caught.value)


@pytest.mark.parametrize("column", ["meta", "data"])
def test_a_pickle_planted_in_a_checkpoint_is_refused_and_never_run(
    tmp_path: Path, column: str
) -> None:
    path = tmp_path / "m.db"
    save(path, BOOT)
    canary = tmp_path / "pwned"
    payload = f"\x80\x04cos\nsystem\n(S'touch {canary}'\ntR.".encode("latin-1")
    if column == "meta":
        edit(path, f"UPDATE checkpoints SET meta = CAST(X'{payload.hex()}' AS TEXT)")
    else:  # a blob of consistent length: only the engine's checks can refuse it
        edit(
            path,
            f"UPDATE checkpoint_arrays SET data = X'{payload.hex()}', length = {len(payload)}"
            " WHERE name = 'flags_value'",
        )
    with pytest.raises(StoreError) as caught, transaction(path) as tx:
        tx.load()
    assert caught.value.reason in (StoreReason.CORRUPT, StoreReason.INVALID)
    assert caught.value.exit_status == 2
    assert not canary.exists()


def test_nothing_in_the_store_can_unpickle() -> None:
    """The store's modules import no deserialiser that runs code."""
    import ast
    import inspect

    from physseg.cli import checkpoint, storerows

    for module in (store, storerows, checkpoint):
        source = inspect.getsource(module)
        imported: set[str] = set()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                imported.add((node.module or "").split(".")[0])
        assert not imported & {"pickle", "marshal", "shelve", "dill"}
        assert "allow_pickle" not in source
        assert "eval(" not in source


# --------------------------------------------------------------------------- creating
def test_a_machine_cannot_be_created_where_there_is_no_directory(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as caught:
        save(tmp_path / "nowhere" / "m.db", BOOT)
    assert caught.value.reason is StoreReason.WRITE_FAILED
    assert caught.value.exit_status == 1
    assert "(No such file or directory); nothing was changed" in str(caught.value)


def test_without_hard_links_a_new_file_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_links(source: object, target: object) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_links)
    save(tmp_path / "m.db", BOOT)
    assert read_machine(tmp_path / "m.db").operations == len(BOOT)
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_a_file_created_meanwhile_is_replaced_in_a_transaction_not_clobbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.db"
    link = os.link

    def racing_link(source: str, target: str) -> None:
        monkeypatch.setattr(os, "link", link)
        save(path, BOOT[:2])  # another command creates the machine first
        link(source, target)  # so this one finds the name taken

    monkeypatch.setattr(os, "link", racing_link)
    save(path, BOOT)
    assert read_machine(path).operations == len(BOOT)
    assert checkpoints(path) == [4]
