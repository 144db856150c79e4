"""``physseg show``, ``plug``, ``unplug``, ``find``, ``map`` and ``demo`` end to end: through the
real entry point in a subprocess, and in-process through ``physseg.cli.main`` for the many
smaller cases (same code, a second faster)."""

from __future__ import annotations

import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.table import DEFAULT_ROW_LIMIT

STATE = "physseg-machine.db"
PHYSSEG = str(Path(sys.executable).with_name("physseg"))
"""The installed ``physseg`` console script: the real entry point."""


def physseg(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``physseg`` command in ``cwd``."""
    return subprocess.run(
        [PHYSSEG, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``physseg ARGS`` in-process; returns (status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def booted_state(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The machine database of the qemu-512m sample, booted once for the whole module."""
    directory = tmp_path_factory.mktemp("boot")
    done = physseg(directory, "boot", "qemu-512m")
    assert done.returncode == 0, done.stderr
    return (directory / STATE).read_bytes()


@pytest.fixture
def machine(tmp_path: Path, booted_state: bytes, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding the booted qemu-512m machine (and the current directory)."""
    (tmp_path / STATE).write_bytes(booted_state)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --------------------------------------------------------------------------- subprocess
def test_plug_unplug_find_show_through_the_real_command(machine: Path) -> None:
    plugged = physseg(machine, "plug", "4G", "64M", "--json")
    assert plugged.returncode == 0, plugged.stderr
    assert json.loads(plugged.stdout)["plugged"]["start"] == "0x100000000"
    unplugged = physseg(machine, "unplug", "0x100800000", "8M")
    assert unplugged.returncode == 0
    assert "split segment [0x100000000, 0x104000000)" in unplugged.stdout
    shown = json.loads(physseg(machine, "show", "--json").stdout)
    assert [s["start"] for s in shown["segments"]][-2:] == ["0x100000000", "0x101000000"]
    assert shown["totals"]["segments"] == 5


def test_usage_errors_exit_2_with_usage_through_the_real_command(tmp_path: Path) -> None:
    for args in (("plug", "4G", "lots"), ("teleport",)):
        done = physseg(tmp_path, *args)
        assert done.returncode == 2
        assert done.stderr.startswith("usage: physseg")
        assert "Traceback" not in done.stderr


def test_operational_errors_exit_1_with_one_line_through_the_real_command(machine: Path) -> None:
    before = (machine / STATE).read_bytes()
    done = physseg(machine, "unplug", "3G", "4K")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "physseg unplug: unplug [0xc0000000, 0xc0001000): address 0xc0000000 is in a hole\n"
    )
    assert (machine / STATE).read_bytes() == before


def test_map_draws_a_png(machine: Path) -> None:
    done = physseg(machine, "map", "-o", "memory.png", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["width"], report["height"], report["segments"]) == (1600, 900, 3)
    png = machine / "memory.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert png.stat().st_size > 30_000


def test_demo_runs_a_whole_session(tmp_path: Path) -> None:
    done = physseg(tmp_path, "demo")
    assert done.returncode == 0, done.stderr
    for step in ("$ physseg boot vm-hotplug", "$ physseg plug 0x160000000 512M", "$ physseg show"):
        assert step in done.stdout
    assert "split segment [0x160000000, 0x180000000)" in done.stdout
    assert "is not managed: in the hole [0x168000000, 0x16c000000)" in done.stdout
    assert list(tmp_path.iterdir()) == []  # the demo leaves the working directory alone


# --------------------------------------------------------------------------- in-process
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plug", "4G"), "the following arguments are required: SIZE"),
        (("plug", "4G", "0"), "argument SIZE: '0': a size must be more than 0 bytes"),
        (("unplug", "-1", "4K"), "argument ADDR: '-1': an address cannot be negative"),
        (("plug", "1G", "-4K"), "argument SIZE: '-4K': a size cannot be negative"),
        (("unplug", "1G", "-0x1000"), "argument SIZE: '-0x1000': a size cannot be negative"),
        (("plug", "-.5G", "4K"), "argument ADDR: '-.5G': an address cannot be negative"),
        (("find", "-4K"), "argument ADDR: '-4K': an address cannot be negative"),
        (("find",), "the following arguments are required: ADDR"),
        (("show", "--bogus"), "unrecognized arguments: --bogus"),
        (("map", "--views", "3d"), "argument --views: invalid choice: '3d'"),
        ((), "the following arguments are required: COMMAND"),
    ],
)
def test_usage_errors_exit_2_with_usage(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(list(args))
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: physseg")
    assert message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("plug", "0x100000800", "4K"), "plug [0x100000800, 0x100001800): not page-aligned"),
        (("plug", "0x100000", "4K"), "overlaps segment [0x100000, 0x1000000) already managed"),
        (("unplug", "0x100000", "32M"), "crosses the end of segment [0x100000, 0x1000000)"),
    ],
)
def test_operational_errors_exit_1_with_one_line(
    machine: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    before = (machine / STATE).read_bytes()
    status, out, err = run(capsys, *args)
    assert (status, out) == (1, "")
    assert err.startswith(f"physseg {args[0]}: ")
    assert err.count("\n") == 1
    assert message in err
    assert (machine / STATE).read_bytes() == before


def test_show_prints_segments_holes_and_totals(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "show")
    assert status == 0
    assert out.startswith("qemu-512m (e820), rbtree backend, 4 KiB pages, booted")
    for part in ("Segments", "avail window", "3 FIRST16", "0 DEFAULT", "Holes (not managed)"):
        assert part in out
    assert "Totals: 3 segments, 495.96 MiB managed (126,967 pages)" in out


def test_show_lists_the_first_segments_unless_all(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugs = "".join(f"plug {(1 << 32) + n * 0x200000:#x} 1M\n" for n in range(DEFAULT_ROW_LIMIT))
    (machine / "plugs.trace").write_text(plugs)
    assert run(capsys, "replay", "plugs.trace")[0] == 0
    status, out, _ = run(capsys, "show")
    assert status == 0
    assert "... and 3 more segments (--all lists them)" in out
    _, everything, _ = run(capsys, "show", "--all")
    assert "more segments" not in everything
    assert "0x104e00000" in everything


def test_show_json_describes_the_machine(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "show", "--json")
    shown = json.loads(out)
    assert status == 0
    assert shown["booted"] is True
    assert shown["map"] == {"name": "qemu-512m", "source": "sample:qemu-512m", "format": "e820"}
    assert shown["machine"] == {
        "backend": "rbtree",
        "physseg_max": 64,
        "nfreelist": 4,
        "page_size": 4096,
    }
    assert shown["segments"][0] == {
        "start": "0x8000",
        "end": "0x9f000",
        "size": 0x97000,
        "avail_start": "0x8000",
        "avail_end": "0x9f000",
        "start_pfn": 8,
        "end_pfn": 0x9F,
        "pages": 0x97,
        "free_list": 3,
        "free_list_name": "VM_FREELIST_FIRST16",
    }
    assert shown["holes"][0] == {"start": "0x9f000", "end": "0x100000", "size": 0x61000}
    assert shown["operations"] == 4


def test_plug_prints_the_new_segment(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "plug", "4G", "128M")
    assert status == 0
    assert "Plugged [0x100000000, 0x108000000) (128 MiB) as a new segment:" in out
    assert "0x100000000   0x108000000   128 MiB" in out
    assert "hot-plugged pages 32,768" in out


@pytest.mark.parametrize(
    ("addr", "size", "effect"),
    [
        ("4G", "64M", "removed segment [0x100000000, 0x104000000)"),
        ("4G", "16M", "trimmed the start of segment [0x100000000, 0x104000000), now"),
        ("0x103000000", "16M", "trimmed the end of segment [0x100000000, 0x104000000), now"),
        ("0x101000000", "16M", "split segment [0x100000000, 0x104000000) into"),
    ],
)
def test_unplug_says_what_happened_to_the_segment(
    machine: Path, capsys: pytest.CaptureFixture[str], addr: str, size: str, effect: str
) -> None:
    assert run(capsys, "plug", "4G", "64M")[0] == 0
    status, out, _ = run(capsys, "unplug", addr, size)
    assert status == 0
    assert effect in out
    status, out, _ = run(capsys, "unplug", "0x1f80000", "4K", "--json")
    report = json.loads(out)
    assert report["effect"].startswith("trimmed the start of segment [0x1f80000, 0x1ffe0000)")
    assert report["segments_after"][0]["start"] == "0x1f81000"
    assert report["totals"]["segments"] >= 3


@pytest.mark.parametrize(
    ("addr", "answer"),
    [
        ("0x10000", "is managed: page 0x8 of segment #0 [0x8000, 0x9f000) (604 KiB, free list 3"),
        ("0xa0000", "is not managed: in the hole [0x9f000, 0x100000) (388 KiB) between segments"),
        ("0x1000", "is not managed: below the first segment, which starts at 0x8000"),
        ("8G", "is not managed: above the last segment, which ends at 0x1ffe0000"),
    ],
)
def test_find_names_the_segment_or_the_hole(
    machine: Path, capsys: pytest.CaptureFixture[str], addr: str, answer: str
) -> None:
    status, out, _ = run(capsys, "find", addr)
    assert status == 0
    assert answer in out


def test_find_json(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = json.loads(run(capsys, "find", "0x10000", "--json")[1])
    assert (found["pfn"], found["offset"], found["segment_index"]) == (0x10, 8, 0)
    assert found["in_avail"] is True
    hole = json.loads(run(capsys, "find", "0xa0000", "--json")[1])
    assert hole["hole"] == {"start": "0x9f000", "end": "0x100000"}
    assert hole["managed"] is False


def test_find_on_a_machine_without_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.trace").write_text("# nothing yet\n")
    assert run(capsys, "replay", "--fresh", "empty.trace")[0] == 0
    status, out, _ = run(capsys, "find", "0")
    assert (status, "the machine has no segments" in out) == (0, True)
    status, _, err = run(capsys, "map")
    assert status == 1
    assert "nothing to draw" in err
    assert "0 segments" in run(capsys, "show")[1]


def test_missing_state_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for command in (["show"], ["plug", "4G", "4K"], ["find", "0"], ["map"]):
        status, out, err = run(capsys, *command)
        assert status == 1
        assert out == ""
        assert (
            err == f"physseg {command[0]}: no state file physseg-machine.db; start a machine"
            " with `physseg boot MAP` (or pass --state PATH)\n"
        )


@pytest.mark.parametrize(
    "command", [["show"], ["plug", "4G", "4K"], ["map"], ["export"], ["boot", "qemu-512m"]]
)
def test_a_state_path_that_cannot_exist_is_named_as_given(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, *command, "--state", "/nonexistent/dir/x")
    assert (status, out) == (1, "")
    assert err.startswith(f"physseg {command[0]}: ")
    assert "/nonexistent/dir/x" in err
    assert ".tmp" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing/dir/out.jsonl", "."])
def test_an_export_that_cannot_be_written_names_the_path_given(
    machine: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    before = sorted(machine.iterdir())
    status, out, err = run(capsys, "export", "-o", where)
    assert (status, out) == (1, "")
    assert err.startswith(f"physseg export: cannot write {where} ")
    assert ".tmp" not in err
    assert sorted(machine.iterdir()) == before
    assert not (machine.parent / f".{machine.name}.export.tmp").exists()


def test_state_option_picks_the_file(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (machine / STATE).rename(machine / "other.db")
    assert run(capsys, "show", "--state", "other.db")[0] == 0
    assert run(capsys, "show")[0] == 1


def test_map_views_and_text_report(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "map", "--views", "log", "-o", "log.png")
    assert status == 0
    assert out == "Wrote log.png (1600x900 px): Physical memory of qemu-512m, 3 segments\n"
    assert (machine / "log.png").stat().st_size > 20_000


def test_plug_and_map_json_in_process(machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "plug", "4G", "1M", "--json")
    assert status == 0
    report = json.loads(out)
    assert report["plugged"]["pages"] == 256
    assert report["totals"]["physmem"] == 256
    status, out, _ = run(capsys, "map", "--views", "broken", "-o", "b.png", "--json")
    assert status == 0
    assert json.loads(out)["plugged"] == 1


def test_show_marks_partial_and_empty_avail_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "avail.trace").write_text(
        "physload 16M 16M avail_start=20M avail_end=24M free_list=1\n"
        "physload 64M 16M avail_start=64M avail_end=64M\n"
    )
    assert run(capsys, "replay", "--fresh", "avail.trace")[0] == 0
    status, out, _ = run(capsys, "show")
    assert status == 0
    assert "[0x1400000, 0x1800000)" in out
    assert " none " in out
    assert "not booted" in out
    assert " 1 " in out  # a free list without a name is shown by number


def test_a_state_whose_journal_no_longer_replays_is_refused(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(machine / STATE) as db:
        db.execute("UPDATE state SET physmem = 1")
    db.close()
    assert run(capsys, "show")[0] == 0  # reading needs no rebuild
    before = (machine / STATE).read_bytes()
    status, _, err = run(capsys, "plug", "4G", "4K")
    assert status == 2
    assert "gives another machine than the snapshot saved with them" in err
    assert (machine / STATE).read_bytes() == before


def test_demo_in_process_with_a_short_script_and_a_failing_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from physseg.cli.commands import demo

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(demo, "SCRIPT", (("Boot", ["boot", "qemu-512m"]),))
    status, out, _ = run(capsys, "demo")
    assert status == 0
    assert out.startswith("\n# 1. Boot\n$ physseg boot qemu-512m\nBooted qemu-512m")
    assert "Next: `physseg boot desktop-16g`" in out
    monkeypatch.setattr(demo, "SCRIPT", (("Break", ["unplug", "0", "4K"]),))
    status, out, err = run(capsys, "demo")
    assert status == 1
    assert "$ physseg unplug 0 4K" in out
    assert err.endswith("physseg demo: demo step 1 (physseg unplug 0 4K) failed\n")
    assert list(tmp_path.iterdir()) == []


def test_a_terminal_gets_the_terminal_width_and_colours() -> None:
    import io

    from physseg.cli.table import make_console

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    console = make_console(Terminal())
    assert console.is_terminal
    assert not console.soft_wrap
    assert make_console(io.StringIO()).soft_wrap


def test_a_machine_never_recorded_shows_as_empty() -> None:
    from physseg.cli.state import MachineConfig, MachineState
    from physseg.cli.table import machine_dict

    shown = machine_dict(MachineState(MachineConfig()), "x.db")
    assert (shown["booted"], shown["segments"], shown["holes"]) == (False, [], [])
    assert shown["totals"] == dict.fromkeys(
        ("segments", "managed_pages", "free_pages", "physmem", "holes", "slabs"), 0
    )


class Terminal(io.StringIO):
    """A standard error that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_map_shows_its_progress_on_a_terminal_only(
    machine: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(capsys, "map", "-o", "quiet.png")[2] == ""  # not a terminal: nothing on stderr
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["map", "-o", "shown.png"]) == 0
    shown = terminal.getvalue()
    assert "reading the journal" in shown
    assert "drawing 3 segments" in shown
    assert capsys.readouterr().out.startswith("Wrote shown.png")
