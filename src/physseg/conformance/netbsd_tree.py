"""A NetBSD source tree as ``physseg conformance`` builds it: the six files it needs, the
revision of ``uvm_physseg.c``, what the compiler compiles and with which flags.

The tree's files are used unchanged and never copied: the glue ``csrc/netbsd/psc_netbsd.c``
includes ``sys/uvm/uvm_physseg.c``, ``csrc/netbsd/psc_extent.c`` includes
``sys/kern/subr_extent.c``, and ``common/lib/libc/gen/rb.c`` is compiled as it is. The shim
headers of ``csrc/netbsd/include`` come first on the include path, the system's next, the
tree's ``sys/`` last (``-idirafter``), so only the headers no shim and no system provides
(``<sys/rbtree.h>``, ``<uvm/uvm_physseg.h>``) are the tree's: a whole NetBSD checkout builds
like the six files alone. The tree's ``sys/sys/extent.h`` is required but not used: the shim's
``<sys/extent.h>`` matches ``subr_extent.c`` revision 1.79, which the 1996 header some trees
hold does not.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Final

from physseg.conformance.config import Config

REQUIRED: Final = (
    "sys/uvm/uvm_physseg.c",
    "sys/uvm/uvm_physseg.h",
    "sys/sys/rbtree.h",
    "common/lib/libc/gen/rb.c",
    "sys/sys/extent.h",
    "sys/kern/subr_extent.c",
)
"""The files a tree must hold, at their NetBSD paths (relative to the tree's root)."""

UVM_PHYSSEG: Final = "sys/uvm/uvm_physseg.c"
RB: Final = "common/lib/libc/gen/rb.c"

_REVISION_LINE: Final = re.compile(r"\$NetBSD: uvm_physseg\.c,v ([0-9]+(?:\.[0-9]+)*) ")
_REVISION_HEAD: Final = 4096
"""How many bytes of ``uvm_physseg.c`` are searched for its ``$NetBSD$`` line."""


def glue_dir() -> Path:
    """The directory of the NetBSD glue (``csrc/netbsd``: ``psc_netbsd.c``, ``psc_extent.c``
    and the shim headers under ``include/``). O(1)."""
    return Path(str(resources.files("physseg.conformance") / "csrc" / "netbsd"))


def missing(tree: Path) -> list[str]:
    """The paths of :data:`REQUIRED` that are not regular files under ``tree``, in that
    order; empty when the tree is complete (or ``tree`` itself is missing, then all six).
    O(1): six ``stat`` calls. Raises nothing (an unreadable path counts as missing)."""
    absent = []
    for path in REQUIRED:
        try:
            present = (tree / path).is_file()
        except OSError:
            present = False
        if not present:
            absent.append(path)
    return absent


def revision(tree: Path) -> str | None:
    """The revision of the tree's ``uvm_physseg.c`` from its ``$NetBSD$`` line
    (``$NetBSD: uvm_physseg.c,v 1.9 2018/01/21 ...$`` → ``"1.9"``); ``None`` when the file is
    missing, unreadable or has no such line in its first 4 KiB. O(4 KiB). Raises nothing."""
    try:
        with (tree / UVM_PHYSSEG).open("rb") as source:
            head = source.read(_REVISION_HEAD).decode("latin-1")
    except OSError:
        return None
    match = _REVISION_LINE.search(head)
    return match.group(1) if match else None


def sources(tree: Path) -> list[Path]:
    """What the compiler compiles, in order: the glue around ``uvm_physseg.c``
    (``psc_netbsd.c``), the glue around ``subr_extent.c`` (``psc_extent.c``) and the tree's
    ``rb.c``. O(1). Raises nothing (the paths are not checked: see :func:`missing`)."""
    glue = glue_dir()
    return [glue / "psc_netbsd.c", glue / "psc_extent.c", tree / RB]


def compile_flags(config: Config, tree: Path, *, extent_testing: bool = False) -> list[str]:
    """The compiler's flags for ``config`` built from ``tree`` (besides ``-std``, ``-O``,
    ``-fPIC`` and ``-shared``, which the builder adds): the shim headers, the ABI header and
    the tree's ``sys/`` on the include path, the tree's root for the glue's quoted includes,
    the configuration's ``-D`` flags (:meth:`Config.defines`), the revision for
    ``psc_implementation()``, ``-DPSC_EXTENT_TESTING`` when ``extent_testing`` (extent(9)'s
    own test build: its panics only print) and ``-w`` (the tree's 2014-2018 code warns under a
    current compiler). O(1) plus reading 4 KiB of ``uvm_physseg.c``. Raises nothing."""
    glue = glue_dir()
    flags = [
        f"-I{glue / 'include'}",
        f"-I{glue.parent}",
        f"-iquote{tree}",
        f"-idirafter{tree / 'sys'}",
        *config.defines(),
    ]
    rev = revision(tree)
    if rev is not None:
        flags.append(f'-DPSC_UVM_PHYSSEG_REV="{rev}"')
    if extent_testing:
        flags.append("-DPSC_EXTENT_TESTING")
    flags.append("-w")
    return flags
