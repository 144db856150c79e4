"""The state file: it rebuilds the machine exactly, writes atomically, and refuses (never
overwrites) a missing, corrupt or newer file."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from physseg import PhysMem
from physseg.cli.state import (
    PAUSE_ENV,
    STATE_VERSION,
    FreeListName,
    MachineConfig,
    MachineState,
    MapInfo,
    MapRange,
    StateCorruptError,
    StateMismatchError,
    StateMissingError,
    StateVersionError,
    check_replaceable,
    decode_state,
    encode_state,
    load_state,
    rebuild,
    save_state,
    snapshot_holes,
    snapshot_stats,
)
from physseg.cli.trace import Find, Init, PhysLoad, Plug, TraceOp, Unplug, apply_op, op_to_dict
from physseg.errors import PhysSegError

MIB = 1 << 20
GIB = 1 << 30
BOOT: list[TraceOp] = [
    PhysLoad(0x8000, 0x97000, free_list=3),
    PhysLoad(16 * MIB, 240 * MIB, free_list=2),
    PhysLoad(GIB, 256 * MIB),
    Init(steal=False),
]
STEAL_BOOT: list[TraceOp] = [*BOOT[:-1], Init()]


def machine(ops: list[TraceOp]) -> tuple[MachineState, PhysMem]:
    """A state and its PhysMem after ``ops`` (all expected to succeed)."""
    state = MachineState(
        MachineConfig(),
        map_info=MapInfo(
            "test", "<test>", "e820", (MapRange(0, 0x1000, "reserved", "BIOS"),), ("a warning",)
        ),
        freelists=(FreeListName(0, "VM_FREELIST_DEFAULT", 0), FreeListName(3, "X", 16 * MIB)),
    )
    mem = state.config.new_machine()
    for op in ops:
        apply_op(mem, op)
    state.record(mem, ops)
    return state, mem


def write(path: Path, doc: dict[str, object]) -> None:
    """Write ``doc`` as a state file with a valid checksum (for hand-made bad content)."""
    from physseg.cli.state import _checksum

    doc = dict(doc)
    doc["checksum"] = _checksum(doc)
    path.write_text(json.dumps(doc))


def saved_doc(tmp_path: Path) -> dict[str, object]:
    state, _ = machine([*BOOT, Plug(2 * GIB, 16 * MIB)])
    path = tmp_path / "s.json"
    save_state(path, state)
    doc: dict[str, object] = json.loads(path.read_text())
    return doc


# --------------------------------------------------------------------------- exact rebuild
def test_saved_machine_rebuilds_to_an_equal_snapshot(tmp_path: Path) -> None:
    ops = [
        *STEAL_BOOT,
        Plug(2 * GIB, 64 * MIB),
        Unplug(2 * GIB + 8 * MIB, 4 * MIB),
        Find(2 * GIB),
    ]
    state, mem = machine(ops)
    path = tmp_path / "physseg-state.json"
    save_state(path, state)
    loaded = load_state(path)
    again = rebuild(loaded, path)
    assert again.snapshot() == mem.snapshot()
    assert loaded.snapshot == state.snapshot
    assert loaded.ops == [op for op in ops if not isinstance(op, Find)]
    assert loaded.map_info == state.map_info
    assert loaded.freelists == state.freelists
    assert loaded.config == state.config


def test_snapshot_counters_match_the_live_machine() -> None:
    state, mem = machine([*STEAL_BOOT, Plug(2 * GIB, 4 * MIB), Unplug(GIB + 128 * MIB, 4 * MIB)])
    assert state.snapshot is not None
    assert snapshot_stats(state.snapshot) == mem.stats()
    assert snapshot_holes(state.snapshot) == mem.holes()


def test_the_same_operations_give_the_same_snapshot_slab_numbers_included() -> None:
    _, first = machine([*BOOT, Plug(2 * GIB, 4 * MIB)])
    _, second = machine([*BOOT, Plug(2 * GIB, 4 * MIB)])
    assert second.snapshot() == first.snapshot()
    assert sorted({s.slab for s in first.snapshot().segments}) == [1, 2]
    assert [e[0] for e in first.snapshot().extents] == [1, 2]


def test_a_dropped_slab_keeps_its_number_taken() -> None:
    """The engine numbers slabs as it creates them: after the first hot-plug slab is dropped
    (its last segment unplugged), the next one is number 3, in every machine alike."""
    ops: list[TraceOp] = [*BOOT, Plug(2 * GIB, 4 * MIB), Unplug(2 * GIB, 4 * MIB)]
    _, first = machine([*ops, Plug(3 * GIB, 4 * MIB)])
    _, second = machine([*ops, Plug(3 * GIB, 4 * MIB)])
    assert second.snapshot() == first.snapshot()
    assert [e[0] for e in first.snapshot().extents] == [1, 3]


def test_an_unbooted_machine_keeps_no_page_arrays(tmp_path: Path) -> None:
    state, _ = machine(BOOT[:2])
    path = tmp_path / "s.json"
    save_state(path, state)
    loaded = load_state(path)
    assert loaded.snapshot is not None
    assert not loaded.snapshot.booted
    assert {s.slab for s in loaded.snapshot.segments} == {-1}
    rebuild(loaded, path)


def test_an_empty_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_state(path, MachineState(MachineConfig(backend="static", physseg_max=4)))
    loaded = load_state(path)
    assert loaded.snapshot is None
    assert loaded.map_info is None
    assert len(rebuild(loaded, path)) == 0


page_ranges = st.tuples(st.integers(0, 63), st.integers(1, 16))


@settings(
    max_examples=min(settings().max_examples, 25),
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.lists(st.tuples(st.booleans(), page_ranges), max_size=12))
def test_any_run_of_plugs_and_unplugs_rebuilds_exactly(
    tmp_path: Path, steps: list[tuple[bool, tuple[int, int]]]
) -> None:
    state, mem = machine(BOOT)
    base = 4 * GIB
    for plug, (first, count) in steps:
        addr, size = base + (first << 12), count << 12
        op: TraceOp = Plug(addr, size) if plug else Unplug(addr, size)
        try:
            apply_op(mem, op)
        except PhysSegError:
            continue
        state.record(mem, [op])
    path = tmp_path / "state.json"
    save_state(path, state)
    loaded = load_state(path)
    assert rebuild(loaded, path).snapshot() == mem.snapshot()


# --------------------------------------------------------------------------- file format
def test_the_file_is_versioned_readable_json(tmp_path: Path) -> None:
    doc = saved_doc(tmp_path)
    assert doc["format"] == "physseg-state"
    assert doc["version"] == STATE_VERSION
    assert str(doc["checksum"]).startswith("sha256:")
    assert doc["ops"] == [op_to_dict(op) for op in [*BOOT, Plug(2 * GIB, 16 * MIB)]]
    text = encode_state(machine(BOOT)[0]).decode()
    assert '\n    {"op": "init", "steal": false}' in text  # one operation per line


def test_freelist_names_fall_back_to_numbers() -> None:
    state, _ = machine(BOOT)
    assert state.freelist_name(0) == "VM_FREELIST_DEFAULT"
    assert state.freelist_name(5) == "#5"


# --------------------------------------------------------------------------- refusals
def test_a_missing_file_says_how_to_start(tmp_path: Path) -> None:
    with pytest.raises(StateMissingError, match="physseg boot MAP"):
        load_state(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is corrupt"),
        (b'{"format": "physseg-state", "vers', "is corrupt"),
        (b"\xff\xfe", "is corrupt"),
        (b"[1, 2, 3]", "is not a physseg state file"),
        (b'{"format": "something-else"}', "is not a physseg state file"),
        (b'{"format": "physseg-state"}', "has no valid version"),
        (b'{"format": "physseg-state", "version": true}', "has no valid version"),
        (b'{"format": "physseg-state", "version": 0}', "has no valid version"),
    ],
)
def test_corrupt_files_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(StateCorruptError, match=message) as caught:
        load_state(path)
    assert "was not changed" in str(caught.value)
    assert caught.value.path == path


def test_an_edited_file_fails_its_checksum(tmp_path: Path) -> None:
    doc = saved_doc(tmp_path)
    doc["ops"] = doc["ops"][:-1]  # type: ignore[index]
    path = tmp_path / "edited.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(StateCorruptError, match="checksum mismatch"):
        load_state(path)


def test_a_newer_version_is_refused_naming_both_versions(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"format": "physseg-state", "version": STATE_VERSION + 1}))
    with pytest.raises(StateVersionError, match=f"format version {STATE_VERSION + 1}"):
        load_state(path)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.pop("machine"), "missing field 'machine'"),
        (lambda d: d["machine"].update(page_shift="12"), "field 'page_shift' is not a int"),
        (lambda d: d["machine"].update(nfreelist=True), "field 'nfreelist' is not a int"),
        (lambda d: d.update(freelists=[[0, "x"]]), "bad free list"),
        (lambda d: d.update(ops=[3]), "bad operation 3"),
        (lambda d: d.update(ops=[{"op": "plug"}]), "plug needs addr"),
        (lambda d: d["snapshot"]["segments"].append([1, 2]), "list of 8 integers"),
        (lambda d: d["snapshot"]["segments"].append([1] * 7 + [True]), "expected integers"),
        (lambda d: d["snapshot"]["extents"].append([0, 1, []]), "bad extent"),
        (lambda d: d["snapshot"]["extents"].append([0, False, [[1]]]), "list of 2 integers"),
        (lambda d: d["map"]["ranges"].append(["0x0", "0x1", "usable"]), "bad map range"),
        (lambda d: d["map"].update(warnings="none"), "field 'warnings' is not a list"),
        (lambda d: d.update(snapshot=[]), "field 'snapshot' is not a dict"),
    ],
)
def test_malformed_fields_are_corruption(tmp_path: Path, edit: object, message: str) -> None:
    doc = saved_doc(tmp_path)
    edit(doc)  # type: ignore[operator]
    path = tmp_path / "bad.json"
    write(path, doc)
    with pytest.raises(StateCorruptError, match=message):
        load_state(path)


def test_an_impossible_machine_is_corruption(tmp_path: Path) -> None:
    doc = saved_doc(tmp_path)
    doc["machine"]["backend"] = "btree"  # type: ignore[index]
    path = tmp_path / "bad.json"
    write(path, doc)
    with pytest.raises(StateCorruptError, match="impossible machine"):
        rebuild(load_state(path), path)


def test_a_log_that_no_longer_replays_is_a_mismatch(tmp_path: Path) -> None:
    doc = saved_doc(tmp_path)
    doc["ops"].append({"op": "plug", "addr": "0x80000000", "size": "16M"})  # type: ignore[attr-defined]
    path = tmp_path / "bad.json"
    write(path, doc)
    with pytest.raises(StateMismatchError, match="logged operation 6 failed"):
        rebuild(load_state(path), path)


def test_a_log_that_builds_another_machine_is_a_mismatch(tmp_path: Path) -> None:
    doc = saved_doc(tmp_path)
    doc["snapshot"]["npages"] += 1  # type: ignore[index]
    path = tmp_path / "bad.json"
    write(path, doc)
    with pytest.raises(StateMismatchError, match="different machine"):
        rebuild(load_state(path), path)


def test_check_replaceable_accepts_no_file_or_a_good_one(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    check_replaceable(path)
    save_state(path, machine(BOOT)[0])
    check_replaceable(path)
    path.write_text("garbage")
    with pytest.raises(StateCorruptError):
        check_replaceable(path)


# --------------------------------------------------------------------------- atomic writes
def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    save_state(path, machine(BOOT)[0])
    before = path.read_bytes()

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        save_state(path, machine([*BOOT, Plug(2 * GIB, 4096)])[0])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


def test_a_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    save_state(path, machine(BOOT)[0])
    assert path.stat().st_mode & 0o777 == 0o644
    path.chmod(0o600)
    save_state(path, machine(BOOT)[0])
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_pause_hook_announces_itself_before_the_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "s.json"
    monkeypatch.setenv(PAUSE_ENV, "0.01")
    save_state(path, machine(BOOT)[0])
    assert "paused before renaming" in capsys.readouterr().err
    assert load_state(path).ops == BOOT


def test_decode_state_reads_what_encode_state_wrote() -> None:
    state, _ = machine(BOOT)
    assert decode_state(encode_state(state), Path("x")).snapshot == state.snapshot


# --------------------------------------------------------------------------- format version 1
V1_FILES = Path(__file__).parent / "golden" / "state"
"""State files written by the format-1 physseg (see the README there)."""


@pytest.mark.parametrize(
    "name", ["v1-rbtree.json", "v1-rbtree-dropped-slab.json", "v1-static.json"]
)
def test_a_version_1_file_still_loads_and_rebuilds(name: str) -> None:
    path = V1_FILES / name
    loaded = load_state(path)
    assert loaded.version == 1
    assert loaded.snapshot is not None
    mem = rebuild(loaded, path)
    assert mem.segments() == [s.view for s in loaded.snapshot.segments]
    assert decode_state(encode_state(loaded), path) == loaded  # re-encoded as it was: version 1


def test_a_version_1_file_numbers_slabs_unlike_the_engine() -> None:
    """Why version 1 is compared in its own numbering: its ranks 0, 1 are the engine's 1, 3
    once a slab was dropped, so comparing the snapshots as they are would refuse the file."""
    path = V1_FILES / "v1-rbtree-dropped-slab.json"
    loaded = load_state(path)
    assert loaded.snapshot is not None
    assert [e[0] for e in loaded.snapshot.extents] == [0, 1]
    assert [e[0] for e in rebuild(loaded, path).snapshot().extents] == [1, 3]


def test_a_version_1_file_with_wrong_slab_numbers_is_a_mismatch(tmp_path: Path) -> None:
    doc = json.loads((V1_FILES / "v1-rbtree-dropped-slab.json").read_text())
    doc["snapshot"]["segments"][-1][6] = 0  # a hot-plugged segment said to use the boot slab
    path = tmp_path / "bad.json"
    write(path, doc)
    with pytest.raises(StateMismatchError, match="different machine"):
        rebuild(load_state(path), path)


def test_changing_a_version_1_machine_writes_version_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from physseg.cli import main

    path = tmp_path / "physseg-state.json"
    path.write_bytes((V1_FILES / "v1-rbtree-dropped-slab.json").read_bytes())
    monkeypatch.chdir(tmp_path)
    assert main(["plug", "8G", "4M"]) == 0
    saved = load_state(path)
    assert saved.version == STATE_VERSION == 2
    assert saved.snapshot is not None
    assert [e[0] for e in saved.snapshot.extents] == [1, 3]
    assert rebuild(saved, path).snapshot() == saved.snapshot
