"""Whole writes and reads on pipe descriptors, for the harness's forked children and their
parents (``os.write`` and ``os.read`` may move fewer bytes than asked)."""

from __future__ import annotations

import os


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
