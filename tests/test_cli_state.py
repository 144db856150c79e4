"""The machine database through the real command: a kill before the commit leaves the last
acknowledged machine, concurrent commands lose nothing, every command refuses a hostile state
file with one line and exit status 2 and leaves it as it was, and an export rebuilds the same
machine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.store import PAUSE_ENV, SCHEMA_VERSION, read_machine
from support.machines import edit

STATE = "physseg-machine.db"
PHYSSEG = str(Path(sys.executable).with_name("physseg"))
"""The installed ``physseg`` console script: the real entry point."""


def physseg(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start the real ``physseg`` command in ``cwd``."""
    return subprocess.Popen(
        [PHYSSEG, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def kill_while_paused(cwd: Path, *args: str) -> str:
    """Run ``physseg ARGS`` with the writer told to pause before its commit, SIGKILL it there,
    and return what it had printed on stderr."""
    process = physseg(cwd, *args, env={**os.environ, PAUSE_ENV: "60"})
    assert process.stderr is not None
    announced = process.stderr.readline()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    return announced


@pytest.fixture(scope="module")
def booted_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    directory = tmp_path_factory.mktemp("boot")
    process = physseg(directory, "boot", "qemu-512m")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return (directory / STATE).read_bytes()


@pytest.fixture
def machine(tmp_path: Path, booted_state: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / STATE).write_bytes(booted_state)
    (tmp_path / "t.trace").write_text("plug 4G 4K\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- crashes
def test_killing_a_plug_before_its_commit_leaves_the_acknowledged_machine(machine: Path) -> None:
    announced = kill_while_paused(machine, "plug", "4G", "64M")
    assert "paused before committing to physseg-machine.db" in announced
    assert read_machine(machine / STATE).operations == 4  # the plug was never acknowledged
    assert main(["plug", "4G", "64M"]) == 0  # and the machine goes on working
    assert read_machine(machine / STATE).operations == 5


def test_killing_the_first_boot_leaves_no_state_file(tmp_path: Path) -> None:
    announced = kill_while_paused(tmp_path, "boot", "qemu-512m")
    assert "paused before linking" in announced
    assert not (tmp_path / STATE).exists()


def test_concurrent_plugs_are_all_recorded(machine: Path) -> None:
    addrs = [f"{(4 << 30) + n * (1 << 20):#x}" for n in range(8)]
    processes = [physseg(machine, "plug", addr, "64K") for addr in addrs]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    shown = json.loads(
        subprocess.run(
            [PHYSSEG, "show", "--json"], cwd=machine, capture_output=True, text=True, check=True
        ).stdout
    )
    assert shown["operations"] == 4 + len(addrs)
    assert set(addrs) <= {s["start"] for s in shown["segments"]}


# --------------------------------------------------------------------------- hostile files
COMMANDS = [
    ["show"],
    ["find", "0x1000"],
    ["plug", "4G", "4K"],
    ["unplug", "0x100000", "4K"],
    ["replay", "t.trace"],
    ["map", "-o", "m.png"],
    ["export"],
    ["boot", "qemu-512m"],
    ["replay", "--fresh", "t.trace"],
]


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _socket(path: Path) -> None:
    path.unlink()
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))  # left bound for the test's duration; the directory goes after


PICKLE = b"\x80\x04cos\nsystem\n(S'touch pwned'\ntR."
"""A pickle that runs a shell command when unpickled."""


def _newer(path: Path) -> None:
    edit(path, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "directory": (lambda p: (p.unlink(), p.mkdir()), "is a directory"),
    "fifo": (_fifo, "is a FIFO"),
    "socket": (_socket, "is a socket"),
    "dev-zero": (lambda p: (p.unlink(), p.symlink_to("/dev/zero")), "character device"),
    "dev-full": (lambda p: (p.unlink(), p.symlink_to("/dev/full")), "character device"),
    "empty": (lambda p: p.write_bytes(b""), "it is empty"),
    "old-json": (lambda p: p.write_text('{"format": "physseg-state"}'), "no SQLite header"),
    "torn": (lambda p: p.write_bytes(p.read_bytes()[:20000]), "is corrupt"),
    "zeros": (lambda p: p.write_bytes(b"SQLite format 3\x00" + bytes(8192)), "is corrupt"),
    "foreign": (
        lambda p: (p.unlink(), edit(p, "CREATE TABLE notes (text TEXT)")),
        "not a physseg machine",
    ),
    "newer": (_newer, f"has schema version {SCHEMA_VERSION + 1}"),
    "page-size": (lambda p: edit(p, "UPDATE machine SET page_shift = 40"), "page_shift is 40"),
    "backend": (lambda p: edit(p, "UPDATE machine SET backend = 'btree'"), "unknown backend"),
    "physseg-max": (
        lambda p: edit(p, "UPDATE machine SET physseg_max = 1000000000000"),
        "physseg_max is 1000000000000",
    ),
    "deep-journal": (
        lambda p: edit(p, "UPDATE journal SET op = printf('%.100000c', '[') WHERE seq = 4"),
        "journal row 4 is not an operation",
    ),
    "long-integer": (
        lambda p: edit(
            p,
            'UPDATE journal SET op = \'{"op": "init", "x": \''
            " || printf('%.100000c', '9') || '}'",
        ),
        "journal row 1 is not an operation",
    ),
    "checkpoint-pickle": (
        lambda p: edit(p, f"UPDATE checkpoints SET meta = CAST(X'{PICKLE.hex()}' AS TEXT)"),
        "is corrupt (Could not decode to UTF-8",
    ),
    "trigger": (
        lambda p: edit(p, "CREATE TRIGGER t AFTER INSERT ON journal BEGIN DELETE FROM meta; END"),
        "tables are not physseg's",
    ),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_every_command_refuses_a_hostile_state_file_with_exit_2(
    machine: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    spoil, message = HOSTILE[kind]
    path = machine / STATE
    spoil(path)
    before = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    for command in COMMANDS:
        assert main(command) == 2, (kind, command)
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"physseg {command[0]}: state file physseg-machine.db ")
        assert err.count("\n") == 1
        assert message in err, (command, err)
        assert "Traceback" not in err
        if before is not None:
            assert path.read_bytes() == before
    assert not (machine / "m.png").exists()


def test_a_corrupt_file_is_refused_by_the_real_command(machine: Path) -> None:
    (machine / STATE).write_text("{ torn")
    process = physseg(machine, "plug", "4G", "4K")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2
    assert out == ""
    assert err == (
        "physseg plug: state file physseg-machine.db is not a physseg machine (no SQLite"
        " header); it was not changed\n"
    )
    assert (machine / STATE).read_text() == "{ torn"


def test_dev_full_as_the_state_is_refused_at_once_by_the_real_command(tmp_path: Path) -> None:
    process = physseg(tmp_path, "boot", "qemu-512m", "--state", "/dev/full")
    _, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.startswith("physseg boot: state file /dev/full is a character device")


@pytest.mark.parametrize(
    ("raised", "status", "message"),
    [
        (MemoryError(), 1, "physseg show: out of memory\n"),
        (KeyboardInterrupt(), 130, "physseg show: interrupted\n"),
        (OSError(28, "No space left on device"), 1, "physseg show: [Errno 28] No space left"),
    ],
)
def test_failures_outside_the_store_are_one_line(
    machine: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    raised: BaseException,
    status: int,
    message: str,
) -> None:
    def failing(*args: object) -> None:
        raise raised

    monkeypatch.setattr("physseg.cli.commands.show.read_machine", failing)
    assert main(["show"]) == status
    assert capsys.readouterr().err.startswith(message)


def test_a_reader_gone_away_ends_the_command_quietly(
    machine: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def gone(*args: object) -> None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("physseg.cli.commands.show.read_machine", gone)
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        monkeypatch.setattr(sys, "stdout", sink)
        assert main(["show"]) == 1
    assert capsys.readouterr().err == ""


def test_a_bug_is_one_line_too(
    machine: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("physseg.cli.commands.show.read_machine", broken)
    assert main(["show"]) == 1
    assert capsys.readouterr().err == (
        "physseg show: internal error (ZeroDivisionError: division by zero); please report it\n"
    )


# --------------------------------------------------------------------------- export
def test_an_export_replays_into_the_same_machine(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plug", "4G", "64M"]) == 0
    assert main(["unplug", "0x101000000", "16M"]) == 0
    assert main(["export", "-o", "machine.jsonl"]) == 0
    assert main(["replay", "--fresh", "machine.jsonl", "--state", "copy.db"]) == 0
    capsys.readouterr()
    shown = []
    for state in (STATE, "copy.db"):
        assert main(["show", "--json", "--state", state]) == 0
        shown.append(json.loads(capsys.readouterr().out))
        shown[-1].pop("state")
    assert shown[0] == shown[1]
    assert main(["export", "--state", "copy.db"]) == 0
    assert capsys.readouterr().out == (machine / "machine.jsonl").read_text()


def test_an_export_starts_with_the_header_and_lists_the_journal(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export"]) == 0
    header, *ops = capsys.readouterr().out.splitlines()
    assert header.startswith('# physseg-machine {"version": 1, "backend": "rbtree"')
    assert [json.loads(op)["op"] for op in ops] == ["physload"] * 3 + ["init"]


def test_fresh_replay_options_win_over_the_header(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "-o", "m.jsonl", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["operations"] == 4
    assert main(["replay", "--fresh", "m.jsonl", "--state", "c.db", "--physseg-max", "3"]) == 0
    assert read_machine(machine / "c.db").config.physseg_max == 3


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("# physseg-machine [1]", "the header is not a JSON object"),
        ('# physseg-machine {"version": 2}', "the header has version 2"),
        ('# physseg-machine {"version": 1}', "the header has no 'backend'"),
        ("# physseg-machine " + "[" * 5000, "JSON nested deeper than 16 levels"),
    ],
)
def test_a_bad_header_is_one_line(
    machine: Path, capsys: pytest.CaptureFixture[str], header: str, message: str
) -> None:
    (machine / "h.jsonl").write_text(header + "\n")
    assert main(["replay", "--fresh", "h.jsonl", "--state", "c.db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("physseg replay: h.jsonl:1: bad machine header: ")
    assert message in err
    assert not (machine / "c.db").exists()


def test_a_header_out_of_bounds_is_refused(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "-o", "m.jsonl"]) == 0
    text = (machine / "m.jsonl").read_text().replace('"page_shift": 12', '"page_shift": 40')
    (machine / "m.jsonl").write_text(text)
    assert main(["replay", "--fresh", "m.jsonl", "--state", "c.db"]) == 1
    assert "page_shift is 40, not in [9, 30]" in capsys.readouterr().err


def test_export_to_a_closed_pipe_stops_quietly(machine: Path) -> None:
    reader = subprocess.Popen(["head", "-c", "1"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    with contextlib.suppress(BrokenPipeError):
        writer = subprocess.run(
            [PHYSSEG, "export"],
            cwd=machine,
            stdout=reader.stdin,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            check=False,
        )
    assert reader.stdin is not None
    reader.stdin.close()
    reader.wait(timeout=30)
    assert "Traceback" not in writer.stderr


def test_the_database_is_a_sqlite_file_a_user_can_inspect(machine: Path) -> None:
    with contextlib.closing(sqlite3.connect(machine / STATE)) as db:
        (count,) = db.execute("SELECT count(*) FROM journal").fetchone()
    assert count == 4
