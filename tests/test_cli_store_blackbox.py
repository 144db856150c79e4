"""The machine database through the real command, as a user (or an attacker) meets it.

Black-box: every test runs ``python -m physseg`` in a subprocess against a ``--state`` path and
looks only at exit statuses, what is printed and what ``physseg export`` / ``show --json`` say
afterwards. The guarantees (issue 12 and ``docs/cli.md``):

* concurrent mutating commands are serialised by the database: none is lost, and the machine is
  the one their journal order builds;
* a command killed at any point leaves a database that opens, holding every command that
  printed success;
* a file that is not a usable physseg machine (a device, a directory, a FIFO, a non-database,
  a truncated or foreign database...) is refused by every command with one line on stderr,
  exit status 2, bounded memory, no traceback, and the file untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from physseg.cli.units import parse_bytes

PHYSSEG = (sys.executable, "-m", "physseg")
TABLES = "SELECT name FROM sqlite_master WHERE type = 'table'"
MIB = 1 << 20
GIB = 1 << 30
RSS_LIMIT_KIB = 200 * 1024
"""Peak resident memory a refused command may use (the issue's bound)."""


@dataclass
class Run:
    status: int
    out: str
    err: str
    max_rss_kib: int


MEASURED = """
import atexit, os, runpy, sys

def report():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(os.environ["PHYSSEG_TEST_PEAK_FILE"], "w") as out:
        out.write(peak)

atexit.register(report)
sys.argv = ["physseg", *sys.argv[1:]]
runpy.run_module("physseg", run_name="__main__")
"""
"""``python -m physseg`` that writes its own peak RSS (``VmHWM``, KiB) to a file at exit. The
kernel's figure for the new program only: ``wait4``'s ``ru_maxrss`` would also count the test
process's memory, which the child held between ``fork`` and ``exec``."""


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> Run:
    """``python -m physseg ARGS``: its status, output and peak RSS in KiB."""
    with (
        tempfile.TemporaryFile("w+") as out,
        tempfile.TemporaryFile("w+") as err,
        tempfile.TemporaryDirectory() as scratch,
    ):
        peak_file = Path(scratch) / "peak"
        process = subprocess.Popen(
            [sys.executable, "-c", MEASURED, *args],
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PHYSSEG_TEST_PEAK_FILE": str(peak_file)},
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"physseg {' '.join(args)} ran past {timeout} s") from None
        out.seek(0)
        err.seek(0)
        peak = int(peak_file.read_text()) if peak_file.exists() else 0
        return Run(process.returncode, out.read(), err.read(), peak)


def quantity(value: object) -> int:
    """A byte quantity as the trace format writes it: an int, or a string such as ``1M``."""
    return value if isinstance(value, int) else parse_bytes(str(value))


def export_ops(state: Path) -> list[dict[str, object]]:
    """The journal ``physseg export`` writes: every JSON object line that is an operation."""
    result = run("export", "--state", str(state), "-o", "-")
    assert result.status == 0, result.err
    ops = []
    for line in result.out.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        record = json.loads(line)
        if record.get("op") in ("plug", "unplug", "physload", "init"):
            ops.append(record)
    return ops


def show(state: Path) -> dict[str, object]:
    result = run("show", "--state", str(state), "--json")
    assert result.status == 0, result.err
    shown: dict[str, object] = json.loads(result.out)
    return shown


def layout(state: Path) -> tuple[object, object]:
    """The machine's segments (without names that come from the boot map) and totals."""
    shown = show(state)
    segments = shown["segments"]
    assert isinstance(segments, list)
    return (
        [{k: v for k, v in seg.items() if k != "free_list_name"} for seg in segments],
        shown["totals"],
    )


@pytest.fixture(scope="module")
def booted(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A database of the shipped qemu-512m machine, booted, as bytes to copy."""
    directory = tmp_path_factory.mktemp("booted")
    state = directory / "machine.db"
    result = run("boot", "qemu-512m", "--state", str(state))
    assert result.status == 0, result.err
    return state.read_bytes()


@pytest.fixture
def machine(tmp_path: Path, booted: bytes) -> Path:
    state = tmp_path / "machine.db"
    state.write_bytes(booted)
    return state


# ---------------------------------------------------------------------- concurrency
def test_fifty_concurrent_plugs_are_all_recorded_in_one_serial_order(
    machine: Path, tmp_path: Path
) -> None:
    ranges = [(4 * GIB + i * 2 * MIB, MIB) for i in range(50)]
    random.Random(1).shuffle(ranges)
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "physseg",
                "plug",
                hex(addr),
                hex(size),
                "--state",
                str(machine),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for addr, size in ranges
    ]
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in processes]
    assert [status for status, _ in results] == [0] * 50, [err for _, err in results if err]

    ops = export_ops(machine)
    plugs = [(quantity(op["addr"]), quantity(op["size"])) for op in ops if op["op"] == "plug"]
    assert sorted(plugs) == sorted(ranges)  # all fifty, each once, in some serial order

    # the machine is the one that order builds
    exported = tmp_path / "machine.jsonl"
    result = run("export", "--state", str(machine), "-o", str(exported))
    assert result.status == 0, result.err
    rebuilt = tmp_path / "rebuilt.db"
    result = run("replay", "--fresh", str(exported), "--state", str(rebuilt))
    assert result.status == 0, result.err
    assert layout(rebuilt) == layout(machine)


# ---------------------------------------------------------------------- SIGKILL
def test_a_killed_command_never_loses_an_acknowledged_one(machine: Path) -> None:
    rng = random.Random(7)
    acknowledged: list[tuple[str, int, int]] = []
    for i in range(24):
        addr = 8 * GIB + i * 4 * MIB
        process = subprocess.Popen(
            [*PHYSSEG, "plug", hex(addr), "1M", "--state", str(machine)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(rng.uniform(0.0, 0.8))
        process.send_signal(signal.SIGKILL)
        out, _ = process.communicate(timeout=60)
        if "Plugged" in out:  # printed only after the commit
            acknowledged.append(("plug", addr, MIB))
    result = run("show", "--state", str(machine), "--json")
    assert result.status == 0, result.err  # the database always opens
    recorded = {
        (str(op["op"]), quantity(op["addr"]), quantity(op["size"]))
        for op in export_ops(machine)
        if op["op"] == "plug"
    }
    assert set(acknowledged) <= recorded


# ---------------------------------------------------------------------- hostile files
def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _socket(path: Path) -> Path:
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _bytes(data: bytes) -> Callable[[Path, bytes], Path]:
    def make(path: Path, booted: bytes) -> Path:
        path.write_bytes(data)
        return path

    return make


def _truncated(fraction: float) -> Callable[[Path, bytes], Path]:
    def make(path: Path, booted: bytes) -> Path:
        path.write_bytes(booted[: max(1, int(len(booted) * fraction))])
        return path

    return make


def _foreign_database(path: Path, booted: bytes) -> Path:
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('not a machine')")
    return path


def _newer_schema(path: Path, booted: bytes) -> Path:
    path.write_bytes(booted)
    with contextlib.closing(sqlite3.connect(path)) as db, db:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        db.execute(f"PRAGMA user_version = {version + 1000}")
    return path


def _columns(db: sqlite3.Connection) -> list[tuple[str, str]]:
    """Every (table, column) of the database, whatever the schema."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    return [
        (table, row[1]) for table in tables for row in db.execute(f'PRAGMA table_info("{table}")')
    ]


def _every_text_value(replace: Callable[[str], str]) -> Callable[[Path, bytes], Path]:
    """Rewrite every TEXT cell of every table (whatever the schema) with ``replace``."""

    def make(path: Path, booted: bytes) -> Path:
        path.write_bytes(booted)
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            for table, column in _columns(db):
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = ? WHERE typeof("{column}") = ?',
                    (None, "null"),
                )
                rows = db.execute(
                    f'SELECT rowid, "{column}" FROM "{table}" WHERE typeof("{column}") = ?',
                    ("text",),
                ).fetchall()
                for rowid, value in rows:
                    with contextlib.suppress(sqlite3.IntegrityError):  # keys stay unique
                        db.execute(
                            f'UPDATE "{table}" SET "{column}" = ? WHERE rowid = ?',
                            (replace(value), rowid),
                        )
        return path

    return make


def _every_blob(payload: bytes) -> Callable[[Path, bytes], Path]:
    def make(path: Path, booted: bytes) -> Path:
        path.write_bytes(booted)
        with contextlib.closing(sqlite3.connect(path)) as db, db:
            for table, column in _columns(db):
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = ? WHERE typeof("{column}") = ?',
                    (payload, "blob"),
                )
        return path

    return make


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("touch /tmp/physseg-pwned",))


PICKLE = __import__("pickle").dumps(_Evil())

HOSTILE: dict[str, Callable[[Path, bytes], Path]] = {
    "dev-zero": lambda path, booted: Path("/dev/zero"),
    "dev-full": lambda path, booted: Path("/dev/full"),
    "dev-null": lambda path, booted: Path("/dev/null"),
    "directory": lambda path, booted: (path.mkdir(), path)[1],
    "fifo": lambda path, booted: _fifo(path),
    "socket": lambda path, booted: _socket(path),
    "empty-file": _bytes(b""),
    "random-bytes": _bytes(random.Random(3).randbytes(64 * 1024)),
    "text-file": _bytes(b"hello, world\n" * 100),
    "old-json-state": _bytes(b'{"format": "physseg-state", "version": 2, "config": {}}\n'),
    "sqlite-header-only": _bytes(b"SQLite format 3\x00" + b"\x00" * 84),
    "sqlite-header-then-garbage": _bytes(b"SQLite format 3\x00" + b"\xff" * 8000),
    "truncated-half": _truncated(0.5),
    "truncated-first-page": _truncated(0.01),
    "foreign-database": _foreign_database,
    "newer-schema": _newer_schema,
    "text-cells-garbage": _every_text_value(lambda value: "\x00garbage\x7f"),
    "text-cells-deep-json": _every_text_value(lambda value: "[" * 100_000 + "]" * 100_000),
    "text-cells-huge-int": _every_text_value(lambda value: "9" * 100_000),
    "text-cells-huge-numbers": _every_text_value(
        lambda value: value.replace("12", "1" + "0" * 30) if value else value
    ),
    "text-cells-bad-backend": _every_text_value(
        lambda value: value.replace("rbtree", "btree") if value else value
    ),
    "text-cells-empty": _every_text_value(lambda value: ""),
    "blobs-pickle": _every_blob(PICKLE),
    "blobs-empty": _every_blob(b""),
    "blobs-short": _every_blob(b"\x01\x02\x03"),
    "symlink-loop": lambda path, booted: (os.symlink(path, path), path)[1],
    "huge-sparse-file": lambda path, booted: _sparse(path),
}


def _sparse(path: Path) -> Path:
    with path.open("wb") as handle:
        handle.write(b"SQLite format 3\x00")
        handle.truncate(1 << 40)
    return path


COMMANDS = {
    "show": ("show",),
    "find": ("find", "0x1000"),
    "plug": ("plug", "4G", "1M"),
    "unplug": ("unplug", "0x100000", "4K"),
    "export": ("export", "-o", "-"),
}


def fingerprint(path: Path) -> tuple[object, ...]:
    info = os.lstat(path)
    if stat.S_ISREG(info.st_mode) and info.st_size < 1 << 30:
        return (info.st_mode, info.st_size, path.read_bytes())
    return (info.st_mode, info.st_size, info.st_mtime_ns)


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_hostile_state_file_is_refused_in_one_line_and_left_untouched(
    kind: str, command: str, tmp_path: Path, booted: bytes
) -> None:
    path = HOSTILE[kind](tmp_path / "machine.db", booted)
    before = fingerprint(path)

    result = run(*COMMANDS[command], "--state", str(path), timeout=60)

    assert "Traceback" not in result.err + result.out
    if result.status == 0:
        # a tampered value that is still valid may be accepted: then the machine must work
        assert kind.startswith(("text-cells", "blobs")), result.out
        return
    assert result.status == 2, (result.status, result.err)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert str(path) in lines[0] or path.name in lines[0]
    assert 0 < result.max_rss_kib < RSS_LIMIT_KIB
    assert fingerprint(path) == before
    assert not Path("/tmp/physseg-pwned").exists()
