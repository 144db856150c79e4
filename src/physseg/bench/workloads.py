"""The benchmark's workloads: NetBSD's ``t_uvm_physseg_load.c`` cases, honest-size variants,
the mutation cases, and the two profiles (quick and paper) that pick among them.

Fixed cases (``100`` ... ``100M``): ``VM_PHYSSEG_MAX = 32``, 32 adjacent 8-page segments loaded
at boot, then N lookups of ``random() % ctob(256)`` (every lookup hits; at boot no segment has a
page array, so ``PHYS_TO_VM_PAGE`` returns NULL + off, ``None`` here).

Fragmentation cases (``1MB`` ... ``256MB``), as the NetBSD test really runs them: segment A =
PFN [0, 256) plugged at boot, ``uvm_page_init``, segment B hot-plugged, then in every 8-frame
group of B the first 1-7 frames (random) unplugged, and 10M lookups of ``pa = random() % mod``,
``if (pa < lo) pa += add``. Their bugs are kept and documented: the "64MB" case plugs a 1 MiB
segment (33 segments), and the "256MB" case's ``pa < ctob(END_5)`` is always true, so every
lookup is shifted by 1 MiB and the top MiB lies past the end of memory.

Honest cases (``real-64MB``, ``real-1GB``, ``real-4GB``) do what the names promise: B really is
64 MiB / 1 GiB / 4 GiB, fragmented the same way, and lookups are uniform over B.

Mutation cases (``mutate-1K`` ... ``mutate-1M``): a fragmented layout of n segments, then per run
K plugs into K distinct holes (each scavenges page entries) and the K unplugs of those segments
(whole-segment removals), timed one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.netbsd import Kernel, make_kernel

__all__ = [
    "BUILDS",
    "CASES",
    "GROUPS",
    "MIB",
    "PAPER",
    "PF_STEP",
    "PROFILES",
    "QUICK",
    "LookupCase",
    "MutationCase",
    "Profile",
    "build_kernel",
    "fragment",
    "resolve_cases",
]

MIB: Final = 1 << 20
PAGE_SHIFT: Final = 12
PF_STEP: Final = 8
"""Width in PFNs of the fixed case's segments and of the fragmentation groups (``PF_STEP``)."""
PHYSSEG_MAX: Final = 32
"""``VM_PHYSSEG_MAX`` of the load tests."""
A_PAGES: Final = 256
"""Segment A (fragmentation cases) and the fixed case's span: PFN [0, 256), 1 MiB."""

BUILDS: Final = {
    "static-bsearch": ("static", "bsearch"),
    "static-random": ("static", "random"),
    "rbtree": ("rbtree", "bsearch"),
}
"""Kernel builds by name: (backend, ``VM_PHYSSEG_STRAT``)."""


@dataclass(frozen=True, slots=True)
class LookupCase:
    """One lookup workload: a layout and the distribution of its addresses.

    Addresses are drawn as ``pa = U[0, lookup_mod)``, then ``pa += lookup_add`` where
    ``pa < lookup_lo`` (the load test's formula). Fragmentation cases hot-plug B =
    ``[b_start, b_start + b_pages)`` and fragment it; fixed cases (``b_pages == 0``) load 32
    segments at boot. ``lookups`` is the test's own N.
    """

    name: str
    kind: str
    lookups: int
    segments: int
    lookup_mod: int
    lookup_lo: int = 0
    lookup_add: int = 0
    b_start: int = 0
    b_pages: int = 0
    note: str = ""

    @property
    def builds(self) -> tuple[str, ...]:
        """The kernel builds the case runs on: all three for the fixed case, the rbtree only
        otherwise (the static build cannot hot-plug, as in NetBSD)."""
        return tuple(BUILDS) if self.kind == "fixed" else ("rbtree",)

    def addresses(self, rng: np.random.Generator, count: int) -> npt.NDArray[np.uint64]:
        """``count`` byte addresses drawn from the case's distribution. O(count)."""
        pa = rng.integers(0, self.lookup_mod, size=count, dtype=np.uint64)
        if self.lookup_add:
            pa[pa < np.uint64(self.lookup_lo)] += np.uint64(self.lookup_add)
        return pa

    def build(self, build: str, rng: np.random.Generator) -> Kernel:
        """A fresh kernel of ``build`` in the case's layout (fragment sizes drawn from
        ``rng``). Raises ``AssertionError`` if the segment count is not the test's. O(n)."""
        backend, strategy = BUILDS[build]
        kernel = make_kernel(backend, physseg_max=PHYSSEG_MAX, strategy=strategy)
        if self.kind == "fixed":
            for pfn in range(0, A_PAGES, PF_STEP):
                kernel.uvm_page_physload(pfn, pfn + PF_STEP, pfn, pfn + PF_STEP, 0)
        else:
            fragment(kernel, self.b_start, self.b_pages, rng)
        count = kernel.uvm_physseg_get_entries()
        assert count == self.segments, f"{self.name}: {count} segments, expected {self.segments}"
        return kernel


@dataclass(frozen=True, slots=True)
class MutationCase:
    """A fragmented layout of ``segments`` segments on which plug and unplug are timed."""

    name: str
    segments: int
    kind: str = "mutation"

    @property
    def b_pages(self) -> int:
        """Frames of the hot-plugged segment B: ``segments - 1`` groups of 8."""
        return PF_STEP * (self.segments - 1)

    def build(self, rng: np.random.Generator) -> tuple[Kernel, list[tuple[int, int]]]:
        """The layout and its holes: ``(pfn, pages)`` of the range unplugged from each group
        (plugging one back and unplugging it again leaves the layout as it was). O(n)."""
        kernel = make_kernel("rbtree", physseg_max=PHYSSEG_MAX)
        chunks = fragment(kernel, A_PAGES, self.b_pages, rng)
        holes = [(A_PAGES + PF_STEP * g, c) for g, c in enumerate(chunks)]
        assert kernel.uvm_physseg_get_entries() == self.segments
        return kernel, holes


def fragment(kernel: Kernel, b_start: int, b_pages: int, rng: np.random.Generator) -> list[int]:
    """The load test's set-up on a fresh rbtree kernel: plug A = [0, 256) at boot,
    ``uvm_page_init`` over a slab for A and B, hot-plug B = ``[b_start, b_start + b_pages)``,
    then unplug the first 1-7 frames of every 8-frame group of B. Returns the unplugged counts.
    Raises ``AssertionError`` if a plug or unplug fails. O(b_pages / 8) unplugs."""
    ok, _ = kernel.uvm_physseg_plug(0, A_PAGES)
    assert ok, "plug of segment A failed"
    kernel.uvm_page_init_fake(A_PAGES + b_pages)
    ok, _ = kernel.uvm_physseg_plug(b_start, b_pages)
    assert ok, "hot plug of segment B failed"
    chunks: list[int] = rng.integers(1, PF_STEP, size=b_pages // PF_STEP).tolist()
    unplug = kernel.uvm_physseg_unplug
    for pfn, chunk in zip(range(b_start, b_start + b_pages, PF_STEP), chunks, strict=True):
        assert unplug(pfn, chunk), f"unplug({pfn:#x}, {chunk}) failed"
    return chunks


def _fixed(name: str, lookups: int) -> LookupCase:
    return LookupCase(name, "fixed", lookups, PHYSSEG_MAX, A_PAGES << PAGE_SHIFT)


def _fragmented(
    name: str, b_start: int, b_pages: int, mod: int, lo: int, add: int, note: str = ""
) -> LookupCase:
    segments = 1 + b_pages // PF_STEP
    return LookupCase(name, "fragmented", 10**7, segments, mod, lo, add, b_start, b_pages, note)


def _honest(name: str, size: int) -> LookupCase:
    b_pages = size >> PAGE_SHIFT
    a_size = A_PAGES << PAGE_SHIFT
    note = f"B really is {name.removeprefix('real-')}; lookups uniform over B"
    segments = 1 + b_pages // PF_STEP
    return LookupCase(
        name, "honest", 10**7, segments, size, size, a_size, A_PAGES, b_pages, note=note
    )


_CASE_LIST: Final[tuple[LookupCase | MutationCase, ...]] = (
    _fixed("100", 100),
    _fixed("1K", 10**3),
    _fixed("10K", 10**4),
    _fixed("100K", 10**5),
    _fixed("1M", 10**6),
    _fixed("10M", 10**7),
    _fixed("100M", 10**8),
    _fragmented("1MB", 256, 256, 2 * MIB, MIB, MIB),
    _fragmented("64MB", 512, 256, 3 * MIB, 2 * MIB, 2 * MIB, note="bug: B is 1 MiB, not 64 MiB"),
    _fragmented("128MB", 256, 32512, 128 * MIB, MIB, MIB),
    _fragmented(
        "256MB",
        256,
        65280,
        256 * MIB,
        256 * MIB,
        MIB,
        note="bug: every lookup is shifted by 1 MiB; the top MiB is past the end",
    ),
    _honest("real-64MB", 64 * MIB),
    _honest("real-1GB", 1024 * MIB),
    _honest("real-4GB", 4096 * MIB),
    MutationCase("mutate-1K", 10**3),
    MutationCase("mutate-10K", 10**4),
    MutationCase("mutate-100K", 10**5),
    MutationCase("mutate-1M", 10**6),
)

CASES: Final[dict[str, LookupCase | MutationCase]] = {case.name: case for case in _CASE_LIST}
"""Every case by name."""

GROUPS: Final[dict[str, tuple[str, ...]]] = {
    kind: tuple(case.name for case in _CASE_LIST if case.kind == kind)
    for kind in ("fixed", "fragmented", "honest", "mutation")
}
"""Case names by kind; ``--cases fixed`` selects a whole group."""


@dataclass(frozen=True, slots=True)
class Profile:
    """Default cases, runs per case and sizes of one benchmark profile."""

    name: str
    cases: tuple[str, ...]
    runs: int
    """Runs per lookup case (the paper: 100)."""
    lookups: int
    """Lookups per run of the fragmentation and honest cases (the tests: 10M)."""
    mutation_runs: int
    mutation_ops: int
    """Plugs (and as many unplugs) per run of a mutation case."""


QUICK: Final = Profile(
    "quick",
    cases=(
        *GROUPS["fixed"][:4],
        *GROUPS["fragmented"],
        *GROUPS["honest"],
        *GROUPS["mutation"][:3],
    ),
    runs=15,
    lookups=100_000,
    mutation_runs=5,
    mutation_ops=200,
)
"""A couple of minutes on 2 cores: N up to 100K, 15 runs, 100K lookups per fragmented run."""

PAPER: Final = Profile(
    "paper",
    cases=tuple(CASES),
    runs=100,
    lookups=10**7,
    mutation_runs=20,
    mutation_ops=1000,
)
"""The paper's sizes: N up to 100M, 100 runs, 10M lookups per fragmented run, 10^6 segments."""

PROFILES: Final = {"quick": QUICK, "paper": PAPER}


def resolve_cases(spec: str | None, profile: Profile) -> list[LookupCase | MutationCase]:
    """The cases named by ``spec`` (comma-separated case or group names, ``all``; ``None``:
    the profile's defaults), in registry order without duplicates. Raises ``ValueError``
    naming an unknown case."""
    if spec is None:
        names = set(profile.cases)
    else:
        names = set()
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            if item == "all":
                names.update(CASES)
            elif item in GROUPS:
                names.update(GROUPS[item])
            elif item in CASES:
                names.add(item)
            else:
                known = ", ".join([*CASES, *GROUPS, "all"])
                raise ValueError(f"unknown case {item!r}; known: {known}")
        if not names:
            raise ValueError("no case selected")
    return [case for case in _CASE_LIST if case.name in names]


def build_kernel(case: LookupCase, build: str, seed: int) -> Kernel:
    """``case.build(build, ...)`` with the fragment sizes drawn from ``seed`` (the same layout
    for every build and every run of the case)."""
    return case.build(build, np.random.default_rng([seed, 0]))
