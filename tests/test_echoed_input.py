"""Hostile input reaching messages: a map or trace line holding terminal escape sequences is
shown escaped, never raw; a single line of hundreds of megabytes (or an endless one) is read
with a size limit and quoted cut, with its length, in a process whose address space is capped
at 256 MiB beyond what it uses once physseg is imported.

The commands run in a child (``CHILD``): the limit and the timeout hold whatever the code
under test does, and old behaviour (reading the whole map, copying the line to stderr) fails
these tests by running out of memory or by the size of what it prints.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from physseg.textinput import QUOTE_CHARS, quote_input

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="needs Linux /proc for the limit"
)

SRC = Path(__file__).resolve().parents[1] / "src"
HEADROOM = 256 << 20
"""Address space the child may grow by once physseg is imported."""
CHILD = textwrap.dedent(
    """
    import resource, sys
    from physseg.cli.main import main
    import physseg.cli.commands.boot, physseg.cli.commands.replay, numpy, rich.console
    with open("/proc/self/status") as status:
        vm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmSize:"))
    limit = vm_kb * 1024 + int(sys.argv[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    sys.exit(main(sys.argv[2:]))
    """
)
ESCAPES = "\x1b[2J\x1b]0;owned\x07\x9b31m"
"""Clear the screen, set the window title, a C1 CSI: none may reach a terminal."""


def physseg(
    workdir: Path, *args: str, stdin: Path | None = None, headroom: int = HEADROOM
) -> tuple[int, str, str]:
    """``physseg ARGS`` in a child limited to ``headroom`` more bytes of address space than
    it has once physseg is imported; (status, stdout, stderr)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", COLUMNS="200")
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    with (stdin or Path(os.devnull)).open("rb") as given:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(headroom), *args],
            cwd=workdir,
            stdin=given,
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
    return done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode("latin-1")


def assert_clean(err: str) -> None:
    """No control character but the newline ending each line reached stderr."""
    assert not any((ord(c) < 32 and c != "\n") or 127 <= ord(c) < 160 for c in err), repr(err)


def giant_line_file(path: Path, size: int) -> Path:
    """A file of one line of ``size`` NUL bytes (sparse: nothing is written)."""
    with path.open("wb") as out:
        out.truncate(size)
    return path


def test_a_map_line_with_escapes_is_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "bad.iomem").write_bytes(
        f"00000000-0000ffff : reserved\n{ESCAPES}00100000 : System RAM\n".encode()
    )
    status, out, err = physseg(tmp_path, "boot", "bad.iomem")
    assert (status, out) == (1, "")
    assert_clean(err)
    assert "bad.iomem:2: not a /proc/iomem entry" in err
    assert "\\x1b[2J\\x1b]0;owned\\x07\\x9b31m00100000" in err


def test_a_200_mb_map_line_is_refused_with_its_length_in_bounded_memory(tmp_path: Path) -> None:
    giant_line_file(tmp_path / "giant.map", 200 << 20)
    status, out, err = physseg(tmp_path, "boot", "giant.map", "--format", "iomem")
    assert (status, out) == (1, "")
    assert_clean(err)
    assert "giant.map:1: line longer than 65,536 bytes" in err
    assert f"... ({200 << 20:,} bytes)" in err
    assert len(err) < 3 * QUOTE_CHARS + 200


def test_a_200_mb_map_line_is_refused_while_detecting_its_format(tmp_path: Path) -> None:
    giant_line_file(tmp_path / "giant.map", 200 << 20)
    status, _, err = physseg(tmp_path, "boot", "giant.map")
    assert status == 1
    assert "line longer than 65,536 bytes (no memory-map line is): \\x00\\x00" in err
    assert len(err) < 6 * QUOTE_CHARS + 200


def test_an_endless_line_on_standard_input_stops_at_the_count_limit(tmp_path: Path) -> None:
    status, _, err = physseg(tmp_path, "boot", "-", stdin=Path("/dev/zero"))
    assert status == 1
    assert "<stdin>:1: line longer than 65,536 bytes" in err
    assert f"... (more than {1 << 30:,} bytes)" in err
    assert len(err) < 6 * QUOTE_CHARS + 200


def test_a_trace_line_with_escapes_is_shown_escaped(tmp_path: Path) -> None:
    (tmp_path / "bad.trace").write_text(f"find 0x1000\nplug {ESCAPES} 4K\n")
    status, out, err = physseg(tmp_path, "replay", "bad.trace", "--fresh", "--json")
    assert status == 1
    assert_clean(out + err)
    assert "\\x1b[2J" in out + err


def test_a_200_mb_trace_line_is_quoted_cut(tmp_path: Path) -> None:
    giant_line_file(tmp_path / "giant.trace", 200 << 20)
    status, out, err = physseg(tmp_path, "replay", "giant.trace", "--fresh")
    assert status == 1
    assert_clean(out + err)
    assert "line longer than 2,097,152 characters" in out + err
    assert len(out + err) < 4000


def test_quote_input_escapes_every_control_character_and_cuts_with_the_byte_count() -> None:
    every = "".join(map(chr, range(0xA0)))
    quoted = quote_input(every, max_chars=10 * len(every))
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in quoted)
    assert quote_input("é" * 300, max_chars=2) == "éé... (600 bytes)"
    assert quote_input("a\u202eb") == "a\\u202eb"
    assert quote_input("short", total_bytes=5) == "short"


def test_a_300000_line_map_boots_within_the_cap_with_one_warning_line(tmp_path: Path) -> None:
    """Memory proportional to the map's entries (a compact table), not to its text and
    objects: with 96 MiB of headroom (the streamed boot needs less than 48), reading the whole
    text, its lines and a record per entry runs out of memory. (Time and the 3,000,000-line
    figure: benchmarks/boot_stream.py.)"""
    with (tmp_path / "big.iomem").open("w") as out:
        for index in range(300_000):
            start = 0x100000 + index * 0x3000
            out.write(f"{start:08x}-{start + 0x1FFF:08x} : System RAM\n")
    status, out, err = physseg(tmp_path, "boot", "big.iomem", "--json", headroom=96 << 20)
    assert status == 0, err
    assert err.startswith("warning: 299,936 entries skipped: the iomem extent's region")
    assert err.count("\n") == 1
