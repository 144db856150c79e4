"""``physseg boot MAP``: every shipped map boots into the machine its boot plan describes, from
a sample name or a file; bad maps and unusable state files fail cleanly."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.memmap import AMD64_FREELISTS, list_sample_maps, load_map, plan_boot

STATE = "physseg-machine.db"
PHYSSEG = str(Path(sys.executable).with_name("physseg"))
"""The installed ``physseg`` console script: the real entry point."""
SERVER = "server-1t"
"""Booting the 1 TiB sample costs the engine about 90 s and 2.6 GiB (268 M pages); its picture
is tested from its boot plan in test_mapplot.py instead."""


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``physseg ARGS`` in-process; returns (status, stdout, stderr)."""
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(autouse=True)
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("name", [s.name for s in list_sample_maps() if s.name != SERVER])
def test_every_sample_map_boots_as_its_plan_says(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    plan = plan_boot(load_map(name))
    status, out, _ = run(capsys, "boot", name, "--json")
    assert status == 0
    booted = json.loads(out)
    assert booted["booted"] is True
    assert booted["map"]["name"] == name
    assert booted["plan"] == plan.to_dict()
    assert booted["operations"] == len(plan.loads) + 1
    # the page array is stolen from the segments: they shrink by exactly its pages
    assert booted["totals"]["managed_pages"] < plan.npages
    assert json.loads(run(capsys, "show", "--json")[1]) == {
        key: value for key, value in booted.items() if key != "plan"
    }


def test_boot_prints_the_plan_warnings_and_hotplug_notes(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "boot", "vm-hotplug")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "Booted vm-hotplug (lsmem, 4 map ranges, 4.50 GiB usable): 6 physloads of 1,179,544 pages"
    )
    assert lines[1].startswith("warning: memory map entry [0x0-0xc0000000) (type 1) overlaps")
    assert lines[2] == (
        "note: the map's hot-pluggable range [0x160000000, 0x180000000) is not loaded at boot;"
        " add it with `physseg plug 0x160000000 512M`"
    )
    assert "Totals: 6 segments" in out
    assert (workdir / STATE).exists()


def test_boot_reads_a_map_file_through_the_real_command(workdir: Path) -> None:
    (workdir / "map.txt").write_text(
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
        "BIOS-e820: [mem 0x0000000000100000-0x000000003fffffff] usable\n"
    )
    done = subprocess.run(
        [PHYSSEG, "boot", "map.txt", "--format", "e820", "--no-steal", "--json"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    booted = json.loads(done.stdout)
    assert booted["map"] == {"name": "map.txt", "source": "map.txt", "format": "e820"}
    assert booted["totals"]["managed_pages"] == booted["plan"]["npages"]  # nothing stolen
    assert (workdir / STATE).exists()


def test_boot_with_amd64_free_lists_and_the_static_backend(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, _ = run(
        capsys, "boot", "qemu-512m", "--freelists", "amd64", "--backend", "static", "--json"
    )
    booted = json.loads(out)
    assert status == 0
    assert booted["machine"]["backend"] == "static"
    assert booted["machine"]["nfreelist"] == AMD64_FREELISTS.nfreelist
    assert {s["free_list_name"] for s in booted["segments"]} == {
        "VM_FREELIST_FIRST16",
        "VM_FREELIST_DEFAULT",
    }
    status, _, err = run(capsys, "plug", "4G", "4K")
    assert status == 1
    assert "the static backend cannot hot-plug" in err


def test_boot_replaces_a_good_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "boot", "qemu-512m")[0] == 0
    assert run(capsys, "plug", "4G", "4K")[0] == 0
    assert run(capsys, "boot", "qemu-512m", "--json")[0] == 0
    assert json.loads(run(capsys, "show", "--json")[1])["totals"]["segments"] == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\x00" + bytes(200), "is corrupt"),
        (b"{ torn", "is not a physseg machine (no SQLite header)"),
        (b'{"what": "my notes"}', "is not a physseg machine (no SQLite header)"),
        (b"", "is not a physseg machine (it is empty)"),
    ],
)
def test_boot_never_overwrites_a_file_it_cannot_read(
    workdir: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    (workdir / STATE).write_bytes(content)
    status, out, err = run(capsys, "boot", "qemu-512m")
    assert (status, out) == (2, "")
    assert message in err
    assert (workdir / STATE).read_bytes() == content


def test_boot_never_overwrites_another_sqlite_database(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(workdir / "notes.db") as db:
        db.execute("CREATE TABLE notes (text TEXT)")
    db.close()
    before = (workdir / "notes.db").read_bytes()
    status, _, err = run(capsys, "boot", "qemu-512m", "--state", "notes.db")
    assert status == 2
    assert "is a SQLite database but not a physseg machine" in err
    assert (workdir / "notes.db").read_bytes() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("boot", "atlantis"), "'atlantis' is neither a file nor a shipped sample map"),
        (("boot", "bad.map"), "cannot read the memory map: bad.map:2:"),
        (("boot", "."), "is a directory, which only the sysfs format reads"),
        (("boot", "reserved.map"), "no RAM to load (0 B usable"),
        (("boot", "tiny.map"), "none of it above the reserved low memory"),
    ],
)
def test_bad_maps_fail_with_one_line(
    workdir: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    (workdir / "bad.map").write_text(
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable\n"
        "BIOS-e820: [mem 0x0000000000100000-0x00000000000fffff] usable\n"
    )
    (workdir / "reserved.map").write_text(
        "BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] reserved\n"
    )
    (workdir / "tiny.map").write_text(
        "BIOS-e820: [mem 0x0000000000000000-0x0000000000003fff] usable\n"
    )
    if args[1] == ".":
        args = (*args, "--format", "e820")
    status, out, err = run(capsys, *args)
    assert (status, out) == (1, "")
    assert err.count("\n") == 1
    assert message in err
    assert not (workdir / STATE).exists()


def test_boot_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    for args in (["boot"], ["boot", "x", "--physseg-max", "0"], ["boot", "x", "--format", "pdf"]):
        with pytest.raises(SystemExit) as caught:
            main(args)
        assert caught.value.code == 2
    assert "--physseg-max: '0' must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["boot", "x", "--physseg-max", "many"])
    assert "'many' is not an integer" in capsys.readouterr().err


def test_boot_help_lists_the_sample_maps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["boot", "--help"])
    out = capsys.readouterr().out
    for sample in list_sample_maps():
        assert sample.name in out


def test_boot_prints_the_machine(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(capsys, "boot", "qemu-512m")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == (
        "Booted qemu-512m (e820, 7 map ranges, 511.50 MiB usable): 3 physloads of 130,935"
        " pages, 3,968 of them stolen for the page array"
    )
    assert lines[1].startswith("qemu-512m (e820), rbtree backend, 4 KiB pages, booted")
    assert "warning" not in out


def test_a_map_too_small_to_hold_its_page_array_fails_to_boot(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "one-page.map").write_text(
        "BIOS-e820: [mem 0x0000000000000000-0x0000000000008fff] usable\n"
    )
    status, out, err = run(capsys, "boot", "one-page.map")
    assert (status, out) == (1, "")
    assert err.startswith("physseg boot: booting one-page.map failed: boot: would remove the last")
    assert not (workdir / STATE).exists()
