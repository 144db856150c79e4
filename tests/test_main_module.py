"""``python -m physseg`` is the ``physseg`` command."""

from __future__ import annotations

import subprocess
import sys

from physseg import __version__


def test_python_dash_m_physseg_prints_the_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "physseg", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"physseg {__version__}"


def test_python_dash_m_physseg_without_a_command_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "physseg"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 2
    assert "usage: physseg" in done.stderr
