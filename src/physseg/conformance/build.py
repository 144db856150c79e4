"""Compiling C implementations of the conformance ABI with the system compiler, at run time,
cached by content.

A build's cache key hashes the compiler's identity, the flags and the bytes of every input
(sources and headers), so an edited file or another configuration builds anew and an
unchanged one loads at once. The cache lives in ``$PHYSSEG_CACHE_DIR``, else
``$XDG_CACHE_HOME/physseg/conformance``, else ``~/.cache/physseg/conformance``.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

BASE_FLAGS: Final = ("-std=gnu11", "-O2", "-g", "-fPIC", "-shared")
"""What every build gets: C11 with GNU extensions, optimised, position-independent, shared."""


class BuildError(Exception):
    """The compiler refused a build: ``command`` (the argv) and its ``output``."""

    def __init__(self, command: Sequence[str], output: str) -> None:
        super().__init__(command, output)
        self.command = list(command)
        self.output = output

    def __str__(self) -> str:
        return f"{shlex.join(self.command)}\n{self.output.rstrip()}"


def csrc() -> Path:
    """The directory of the C files physseg ships (the ABI header, the runtime, the NetBSD
    glue). O(1)."""
    return Path(str(resources.files("physseg.conformance") / "csrc"))


def cache_dir() -> Path:
    """Where builds are kept (see the module's docstring); created on demand. O(1)."""
    explicit = os.environ.get("PHYSSEG_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "physseg" / "conformance"


def compiler() -> str:
    """The C compiler: ``$CC``, else ``gcc``. O(1)."""
    return os.environ.get("CC") or "gcc"


@cache
def _compiler_identity(cc: str) -> str:
    try:
        done = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BuildError([cc, "--version"], f"no C compiler: {exc}") from None
    return done.stdout.splitlines()[0] if done.stdout else cc


def build_shared(
    name: str, sources: Sequence[Path], flags: Sequence[str], inputs: Sequence[Path] = ()
) -> Path:
    """The shared library built from ``sources`` with ``flags`` (besides :data:`BASE_FLAGS`),
    from the cache when its key (compiler, flags, the bytes of ``sources`` and ``inputs``)
    was built before. O(bytes of the inputs) for a cached build; a compile otherwise.
    Raises :class:`BuildError` with the compiler's message when it fails (or is missing), and
    ``OSError`` when an input cannot be read."""
    cc = compiler()
    digest = hashlib.sha256()
    for part in (_compiler_identity(cc), *BASE_FLAGS, *flags):
        digest.update(part.encode() + b"\0")
    for path in (*sources, *sorted(inputs)):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    directory = cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{name}-{digest.hexdigest()[:20]}.so"
    if target.exists():
        return target
    handle, partial = tempfile.mkstemp(dir=directory, prefix=f".{name}-", suffix=".so")
    os.close(handle)
    command = [cc, *BASE_FLAGS, *flags, *(str(s) for s in sources), "-o", partial]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        os.unlink(partial)
        raise BuildError(command, str(exc)) from None
    if done.returncode != 0:
        os.unlink(partial)
        raise BuildError(command, done.stderr or done.stdout)
    os.replace(partial, target)
    return target


def build_runtime() -> Path:
    """The harness runtime (``csrc/psc_runtime.c``: ``psc_abort``), built or cached. Raises
    :class:`BuildError` as :func:`build_shared`."""
    src = csrc()
    header = src / "physseg_conformance.h"
    return build_shared("psc_runtime", [src / "psc_runtime.c"], [f"-I{src}"], [header])
