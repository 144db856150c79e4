"""Whole writes and reads on pipe descriptors, for the harness's forked children and their
parents (``os.write`` and ``os.read`` may move fewer bytes than asked), and the silencing of
such a child."""

from __future__ import annotations

import faulthandler
import os


def silence_child() -> None:  # pragma: no cover - runs in forked children
    """In a forked child that reports through pipes: send its stdout and stderr to
    ``/dev/null`` (an implementation's own printf would otherwise mix with the parent's
    report) and turn faulthandler off (a crash is the parent's to report, not a Python
    traceback on the terminal). O(1). Raises ``OSError`` when ``/dev/null`` cannot be
    opened."""
    faulthandler.disable()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd``. O(len(data)). Raises ``OSError`` (a closed
    pipe: ``BrokenPipeError``)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_all(fd: int) -> str:
    """Everything ``fd`` yields until end of file, decoded as UTF-8 (bad bytes replaced).
    O(bytes). Raises ``OSError``."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
