"""``physseg replay TRACE``: the shipped examples, stopping at the first failing line (nothing
saved) or going on with ``--keep-going``, standard input, dry runs, fresh machines and the
progress bar."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.commands.replay import PROGRESS_MIN_BYTES
from physseg.cli.store import read_machine

STATE = "physseg-machine.db"
PHYSSEG = str(Path(sys.executable).with_name("physseg"))
"""The installed ``physseg`` console script: the real entry point."""
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``physseg ARGS`` in-process; returns (status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def booted_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The machine database of the qemu-512m sample, booted once for the module."""
    directory = tmp_path_factory.mktemp("boot")
    done = subprocess.run(
        [PHYSSEG, "boot", "qemu-512m", "--state", "s.db"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return (directory / "s.db").read_bytes()


@pytest.fixture
def machine(tmp_path: Path, booted_state: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / STATE).write_bytes(booted_state)
    for example in EXAMPLES.iterdir():
        shutil.copy(example, tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_text_example_replays_through_the_real_command(machine: Path) -> None:
    def physseg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PHYSSEG, *args],
            cwd=machine,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    assert physseg("boot", "desktop-16g").returncode == 0  # the trace's 2 GiB plugs need it
    done = physseg("replay", "hotplug.trace")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Replayed hotplug.trace (text) in ")
    assert (
        "11 operations read, 11 applied (find 4, plug 3, unplug 4); finds: 2 managed,"
        " 2 in a hole, 0 failed" in done.stdout
    )
    assert "Saved to physseg-machine.db." in done.stdout
    assert read_machine(machine / STATE).operations == 8 + 7  # desktop: 7 physloads and init


def test_the_json_lines_example_builds_its_own_machine(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "replay", "--fresh", "small-machine.jsonl", "--json")
    report = json.loads(out)
    assert status == 0
    assert report["format"] == "jsonl"
    assert report["counts"] == {"physload": 3, "init": 1, "plug": 2, "unplug": 2, "find": 3}
    assert report["finds"] == {"managed": 2, "hole": 1}
    assert report["saved"] is True
    assert report["totals"]["segments"] == 5
    state = read_machine(machine / STATE)
    assert state.map_info is None
    assert state.operations == 8


def test_replay_stops_at_the_first_failing_line_and_saves_nothing(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (machine / STATE).read_bytes()
    status, out, err = run(capsys, "replay", "with-mistakes.trace")
    assert status == 1
    assert err == (
        "physseg replay: with-mistakes.trace:8: plug 1G 64M: plug [0x40000000, 0x44000000):"
        " overlaps segment [0x40000000, 0x44000000) already managed\n"
    )
    assert "2 operations read, 1 applied (plug 1), 1 failed" in out
    assert "Stopped at line 8; nothing was saved" in out
    assert (machine / STATE).read_bytes() == before


def test_keep_going_reports_every_failure_and_saves_the_rest(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "replay", "with-mistakes.trace", "--keep-going", "--json")
    assert status == 1
    assert [line.split(":")[2] for line in err.splitlines()] == ["8", "10", "12"]
    assert "unknown operation 'plugg'" in err
    report = json.loads(out)
    assert [f["line"] for f in report["failures"]] == [8, 10, 12]
    assert (report["applied"], report["saved"], report["stopped_at"]) == (4, True, None)
    assert read_machine(machine / STATE).operations == 4 + 2


def test_replay_reads_standard_input_and_dry_runs(
    machine: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (machine / STATE).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"op": "plug", "addr": "4G", "size": "1M"}\n'))
    status, out, _ = run(capsys, "replay", "-", "--dry-run")
    assert status == 0
    assert out.startswith("Replayed <stdin> (jsonl)")
    assert "Dry run: nothing was saved." in out
    assert (machine / STATE).read_bytes() == before


def test_a_forced_format_wins_over_detection(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (machine / "ops.jsonl").write_text("plug 4G 1M\n")
    status, _, err = run(capsys, "replay", "ops.jsonl")
    assert status == 1
    assert "not valid JSON" in err
    assert run(capsys, "replay", "ops.jsonl", "--format", "text")[0] == 0


def test_fresh_replay_uses_the_machine_options(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (machine / "static.trace").write_text("physload 16M 16M\nphysload 64M 16M\ninit\n")
    status, _, _ = run(
        capsys, "replay", "--fresh", "static.trace", "--backend", "static", "--physseg-max", "2"
    )
    assert status == 0
    state = read_machine(machine / STATE)
    assert (state.config.backend, state.config.physseg_max) == ("static", 2)
    (machine / "static.trace").write_text("physload 16M 16M\nphysload 64M 16M\nphysload 1G 1M\n")
    status, _, err = run(
        capsys, "replay", "--fresh", "static.trace", "--backend", "static", "--physseg-max", "2"
    )
    assert status == 1
    assert "all 2 boot segment slots are used" in err


def test_fresh_replay_never_overwrites_an_unreadable_state(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (machine / STATE).write_text("{ torn")
    status, out, err = run(capsys, "replay", "--fresh", "small-machine.jsonl")
    assert (status, out) == (2, "")
    assert "is not a physseg machine (no SQLite header)" in err
    assert (machine / STATE).read_text() == "{ torn"


def test_a_missing_trace_is_one_line(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(capsys, "replay", "nowhere.trace")
    assert status == 1
    assert err.startswith("physseg replay: [Errno 2] No such file or directory")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal, so replay shows its progress bar."""

    def isatty(self) -> bool:
        return True


def test_long_traces_get_a_progress_bar_on_a_terminal(
    machine: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [f"find {n << 12:#x}\n" for n in range(PROGRESS_MIN_BYTES // 10)]
    (machine / "long.trace").write_text("".join(lines))
    assert (machine / "long.trace").stat().st_size >= PROGRESS_MIN_BYTES
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status, out, _ = run(capsys, "replay", "long.trace", "--dry-run")
    assert status == 0
    assert f"{len(lines)} operations read" in out
    assert "replaying" in terminal.getvalue()
    quiet = Terminal()
    monkeypatch.setattr(sys, "stderr", quiet)
    assert run(capsys, "replay", "long.trace", "--dry-run", "--no-progress")[0] == 0
    assert quiet.getvalue() == ""
