"""The state file through the real command: killing ``physseg`` in the middle of a write
leaves the old file intact, and a corrupt, edited or newer file is refused by every command
with one line and left exactly as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.state import PAUSE_ENV, STATE_VERSION, load_state

STATE = "physseg-state.json"
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
    """Run ``physseg ARGS`` with the writer told to pause before its rename, SIGKILL it there,
    and return what it had printed on stderr."""
    env = {**os.environ, PAUSE_ENV: "60"}
    process = physseg(cwd, *args, env=env)
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
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_killing_a_plug_before_the_rename_leaves_the_old_state(machine: Path) -> None:
    before = (machine / STATE).read_bytes()
    announced = kill_while_paused(machine, "plug", "4G", "64M")
    assert "paused before renaming" in announced
    assert (machine / STATE).read_bytes() == before
    leftovers = [p.name for p in machine.iterdir() if p.name != STATE]
    assert len(leftovers) == 1
    assert leftovers[0].startswith(f".{STATE}.")
    assert leftovers[0].endswith(".tmp")
    # the machine is the one before the plug, and goes on working
    state = load_state(machine / STATE)
    assert len(state.ops) == 4
    assert main(["plug", "4G", "64M"]) == 0
    assert len(load_state(machine / STATE).ops) == 5


def test_killing_the_first_boot_leaves_no_state_file(tmp_path: Path) -> None:
    kill_while_paused(tmp_path, "boot", "qemu-512m")
    assert not (tmp_path / STATE).exists()


COMMANDS = [
    ["show"],
    ["find", "0x1000"],
    ["plug", "4G", "4K"],
    ["unplug", "0x100000", "4K"],
    ["replay", "-"],
    ["map", "-o", "m.png"],
    ["boot", "qemu-512m"],
]


def refused_everywhere(directory: Path, capsys: pytest.CaptureFixture[str], message: str) -> None:
    before = (directory / STATE).read_bytes()
    for command in COMMANDS:
        assert main(command) == 1, command
        out, err = capsys.readouterr()
        assert out == ""
        assert err.startswith(f"physseg {command[0]}: ")
        assert err.count("\n") == 1
        assert message in err
        assert (directory / STATE).read_bytes() == before
    assert not (directory / "m.png").exists()


def test_a_torn_file_is_refused_by_every_command(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (machine / STATE).read_bytes()
    (machine / STATE).write_bytes(data[: len(data) // 2])
    refused_everywhere(machine, capsys, "is corrupt")


def test_an_edited_file_is_refused_by_every_command(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((machine / STATE).read_text())
    doc["ops"][0]["free_list"] = 0
    (machine / STATE).write_text(json.dumps(doc))
    refused_everywhere(machine, capsys, "checksum mismatch: damaged or edited")


def test_a_newer_file_is_refused_by_every_command(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((machine / STATE).read_text())
    doc["version"] = STATE_VERSION + 1
    doc["written_by"] = "physseg 9.0"
    (machine / STATE).write_text(json.dumps(doc))
    refused_everywhere(
        machine, capsys, f"has format version {STATE_VERSION + 1}, written by physseg 9.0"
    )


def test_a_corrupt_file_is_refused_by_the_real_command(machine: Path) -> None:
    (machine / STATE).write_text("{ torn")
    process = physseg(machine, "plug", "4G", "4K")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1
    assert out == ""
    assert err.startswith("physseg plug: state file physseg-state.json is corrupt (")
    assert err.endswith("remove it or use another --state file; it was not changed\n")
    assert "Traceback" not in err
    assert (machine / STATE).read_text() == "{ torn"
