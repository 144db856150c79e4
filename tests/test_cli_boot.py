"""``physseg boot MAP``: every shipped map boots into the machine its boot plan describes, from
a sample name or a file; bad maps and unusable state files fail cleanly."""

from __future__ import annotations

import io
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
    status, out, err = run(capsys, "boot", "vm-hotplug")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith(
        "Booted vm-hotplug (lsmem, 4 map ranges, 4.50 GiB usable): 6 physloads of 1,179,544 pages"
    )
    assert err.startswith("warning: memory map entry [0x0-0xc0000000) (type 1) overlaps")
    assert "warning" not in out
    assert lines[1] == (
        "note: the map's hot-pluggable range [0x160000000, 0x180000000) is not loaded at boot;"
        " add it with `physseg plug 0x160000000 512M`"
    )
    assert "Totals: 6 segments" in out
    assert (workdir / STATE).exists()


def many_ram_entries(count: int) -> str:
    """A /proc/iomem of ``count`` disjoint two-page System RAM entries above 1 MiB."""
    return "".join(
        f"{0x100000 + i * 0x3000:08x}-{0x100000 + i * 0x3000 + 0x1FFF:08x} : System RAM\n"
        for i in range(count)
    )


def test_repeated_boot_warnings_are_one_counted_line_on_stderr(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "many.iomem").write_text(many_ram_entries(1000))
    status, out, err = run(capsys, "boot", "many.iomem")
    assert status == 0
    assert "warning" not in out
    assert err.splitlines() == [
        "warning: 936 entries skipped: the iomem extent's region descriptors are used up;"
        " first at line 65: cannot allocate memory map entry [0x1c0000-0x1c2000) (type 1)"
        " from the iomem extent: its 64 region descriptors are used up; skipped"
    ]


def test_boot_reads_standard_input(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    text = load_map("desktop-16g")
    raw = "".join(
        f"{'  ' * r.depth}{r.start:08x}-{r.end - 1:08x} : {r.label}\n" for r in text.ranges
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw.encode())))
    status, out, _ = run(capsys, "boot", "-", "--json")
    assert status == 0
    booted = json.loads(out)
    assert booted["map"] == {"name": "-", "source": "<stdin>", "format": "iomem"}
    assert booted["plan"] == plan_boot(text).to_dict()


def test_boot_reads_a_pipe_through_the_real_command(workdir: Path) -> None:
    done = subprocess.run(
        [PHYSSEG, "boot", "-", "--json"],
        cwd=workdir,
        input=many_ram_entries(100),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["plan"]["warning_counts"] == {"descriptors-used-up": 36}
    assert done.stderr.count("\n") == 1


def test_an_unknown_format_names_the_format_option(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "notes.txt").write_text("just some notes\n")
    status, out, err = run(capsys, "boot", "notes.txt")
    assert (status, out) == (1, "")
    assert "cannot tell the format" in err
    assert "--format (e820, freebsd, iomem, lsmem, netbsd, sysfs)" in err
    assert "fmt=" not in err


LSMEM_JSON = """{
   "memory": [
      {"range": "0x0000000000000000-0x00000000bfffffff", "size": "3G", "state": "online",
       "removable": false, "block": "0-23"},
      {"range": "0x0000000100000000-0x000000013fffffff", "size": "1G", "state": "online",
       "removable": true, "block": "32-39"},
      {"range": "0x0000000140000000-0x000000017fffffff", "size": "1G", "state": "offline",
       "removable": null, "block": "40-47"}
   ]
}
"""
LSMEM_PAIRS = (
    'RANGE="0x0000000000000000-0x00000000bfffffff" SIZE="3G" STATE="online" REMOVABLE="no"'
    ' BLOCK="0-23"\n'
    'RANGE="0x0000000100000000-0x000000013fffffff" SIZE="1G" STATE="online" REMOVABLE="yes"'
    ' BLOCK="32-39"\n'
    'RANGE="0x0000000140000000-0x000000017fffffff" SIZE="1G" STATE="offline" REMOVABLE=""'
    ' BLOCK="40-47"\n'
)
LSMEM_RAW = (
    "RANGE SIZE STATE REMOVABLE BLOCK\n"
    "0x0000000000000000-0x00000000bfffffff 3G online no 0-23\n"
    "0x0000000100000000-0x000000013fffffff 1G online yes 32-39\n"
    "0x0000000140000000-0x000000017fffffff 1G offline  40-47\n"
)


@pytest.mark.parametrize("text", [LSMEM_JSON, LSMEM_PAIRS, LSMEM_RAW], ids=["json", "pairs", "raw"])
def test_boot_detects_lsmem_json_pairs_and_raw(
    workdir: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    (workdir / "lsmem.out").write_text(text)
    status, out, _ = run(capsys, "boot", "lsmem.out", "--json")
    assert status == 0, out
    booted = json.loads(out)
    assert booted["map"]["format"] == "lsmem"
    assert [r[2] for r in booted_ranges(load_map(workdir / "lsmem.out"))] == [
        "usable",
        "usable",
        "hotplug",
    ]


def booted_ranges(memmap: object) -> list[tuple[int, int, str]]:
    return [(r.start, r.end, r.kind.value) for r in memmap.ranges]  # type: ignore[attr-defined]


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
