"""Building and loading what ``physseg conformance`` checks: NetBSD's ``uvm_physseg.c`` from a
source tree (one build per configuration, with physseg's shims and glue), physseg's own C
implementation (``csrc/ref/psc_ref.c``, and its deliberately broken mutants), or any library
of the ABI."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

from physseg.conformance.build import build_runtime, build_shared, csrc
from physseg.conformance.check import Target
from physseg.conformance.clib import CLibrary, load_runtime
from physseg.conformance.config import Config
from physseg.conformance.runner import abort_fd_setter

MUTANTS: Final = {
    "split-off-by-one": 1,
    "find-boundary": 2,
    "missing-counter": 3,
    "swapped-iteration": 4,
    "leaked-slab": 5,
    "wrong-abort": 6,
}
"""The mutants of the reference implementation (``-DPSC_MUTANT=n``): each one planted bug."""


class TreeError(Exception):
    """A NetBSD source tree that lacks files: ``source_dir`` and the ``missing`` paths."""

    def __init__(self, tree: Path, missing: Sequence[str]) -> None:
        super().__init__(tree, missing)
        self.source_dir = tree
        self.missing = list(missing)

    def __str__(self) -> str:
        return f"{self.source_dir} is not a NetBSD source tree: missing {', '.join(self.missing)}"


def _headers(*directories: Path) -> list[Path]:
    return sorted(p for d in directories if d.is_dir() for p in d.rglob("*.h"))


def _load(path: Path, config: Config, revision: str | None) -> Target:
    runtime = build_runtime()
    library = CLibrary(path, runtime)
    return Target.of_library(config, library, abort_fd_setter(load_runtime(runtime)), revision)


def netbsd_target(tree: Path, config: Config, *, extent_testing: bool = False) -> Target:
    """NetBSD's ``uvm_physseg.c`` from ``tree`` built for ``config`` (cached by content).
    O(build). Raises :class:`TreeError` for a tree without the six files,
    :class:`~physseg.conformance.build.BuildError` and
    :class:`~physseg.conformance.clib.LoadError`."""
    from physseg.conformance import netbsd_tree  # type: ignore[attr-defined]

    missing = netbsd_tree.missing(tree)
    if missing:
        raise TreeError(tree, missing)
    sources = netbsd_tree.sources(tree)
    flags = netbsd_tree.compile_flags(config, tree, extent_testing=extent_testing)
    inputs = [tree / path for path in netbsd_tree.REQUIRED] + _headers(csrc())
    path = build_shared(f"netbsd-{config.name}", sources, flags, inputs)
    return _load(path, config, netbsd_tree.revision(tree))


def reference_target(config: Config, mutant: str | None = None) -> Target:
    """physseg's own C implementation (rbtree semantics) built for ``config``, or one of its
    :data:`MUTANTS`. O(build). Raises ``ValueError`` for a static configuration or an unknown
    mutant, :class:`~physseg.conformance.build.BuildError` and
    :class:`~physseg.conformance.clib.LoadError`."""
    if not config.hotplug:
        raise ValueError(f"the reference implementation is an rbtree build, not {config.name}")
    if mutant is not None and mutant not in MUTANTS:
        raise ValueError(f"unknown mutant {mutant!r}: expected one of {', '.join(MUTANTS)}")
    source = csrc() / "ref" / "psc_ref.c"
    flags = [f"-I{csrc()}", *config.defines()]
    if mutant is not None:
        flags.append(f"-DPSC_MUTANT={MUTANTS[mutant]}")
    name = f"ref-{config.name}" + (f"-{mutant}" if mutant else "")
    path = build_shared(name, [source], flags, _headers(csrc()))
    return _load(path, config, None)


def library_target(path: Path, config: Config, revision: str | None = None) -> Target:
    """A shared library of the ABI at ``path``, compared with the model of ``config``.
    O(load). Raises :class:`~physseg.conformance.clib.LoadError` and
    :class:`~physseg.conformance.build.BuildError` (for the runtime)."""
    return _load(path.resolve(), config, revision)
