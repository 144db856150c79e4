"""The set-up of every load test of NetBSD's ``tests/sys/uvm/t_uvm_physseg_load.c``.

Upstream these are benchmarks: they build a segment layout, then time up to 10^8
``PHYS_TO_VM_PAGE`` lookups and assert only the segment counts. Here each layout is built
exactly as upstream builds it, the counts are asserted, and a seeded sample of lookups drawn
from the test's own address distribution is checked against a model of the layout (hits in
segments, misses in holes and past the end). Timing belongs to ``benchmarks/``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from .conftest import RBTREE_MAX32, STATIC_BSEARCH, STATIC_RANDOM, Config

PF_STEP = 8
"""Width in PFNs of the fixed test's segments and of the fragmentation groups."""
LOOKUPS = 2000
"""Sampled lookups per test (upstream does 100 to 10^8 of them, unchecked)."""
SEED = 20161219
"""Seed of every ``random.Random`` here (upstream seeds with ``time(NULL)``)."""
MIB = 1024 * 1024


def _ident(config: Config) -> str:
    return config.ident


FIXED = [
    pytest.param(n, id=f"uvm_physseg_{name}")
    for name, n in [
        ("100", 100),
        ("1K", 1000),
        ("10K", 10**4),
        ("100K", 10**5),
        ("1M", 10**6),
        ("10M", 10**7),
        ("100M", 10**8),
    ]
]


@pytest.mark.parametrize("config", [RBTREE_MAX32, STATIC_BSEARCH, STATIC_RANDOM], ids=_ident)
@pytest.mark.parametrize("upstream_lookups", FIXED)
def test_uvm_physseg_fixed(config: Config, upstream_lookups: int) -> None:
    """``uvm_physseg_100`` ... ``_100M``: 32 adjacent 8-page boot segments, every lookup hits.

    The seven upstream tests differ only in their number of lookups; each samples at most
    :data:`LOOKUPS` of them here.
    """
    k = config.kernel()
    for pfn in range(0, 256, PF_STEP):
        k.uvm_page_physload(pfn, pfn + PF_STEP, pfn, pfn + PF_STEP, k.VM_FREELIST_DEFAULT)
    assert k.uvm_physseg_get_entries() == k.VM_PHYSSEG_MAX == 32

    rng = random.Random(SEED)
    for _ in range(min(upstream_lookups, LOOKUPS)):
        pa = rng.randrange(k.ctob(256))
        pfn = k.atop(pa)
        upm, offset = k.uvm_physseg_find(pfn)
        assert upm != k.UVM_PHYSSEG_TYPE_INVALID
        assert k.uvm_physseg_get_start(upm) == pfn - pfn % PF_STEP
        assert offset == pfn % PF_STEP
        assert k.uvm_pageismanaged(pa)
        assert k.PHYS_TO_VM_PAGE(pa) is None  # boot time: no segment has a page array yet


@dataclass(frozen=True, slots=True)
class Fragmentation:
    """One variable-size load test: segment B, the unplug loop and the lookup distribution.

    Lookups draw ``pa = random() % lookup_mod``, then add ``lookup_add`` if ``pa < lookup_lo``.
    """

    name: str
    b_start: int
    b_pages: int
    segments: int
    lookup_mod: int
    lookup_lo: int
    lookup_add: int

    @property
    def b_end(self) -> int:
        """One past B's last PFN (the fragmentation loop runs over ``[b_start, b_end)``)."""
        return self.b_start + self.b_pages


FRAGMENTATIONS = [
    pytest.param(Fragmentation("1MB", 256, 256, 33, 2 * MIB, MIB, MIB), id="uvm_physseg_1MB"),
    # Quirk 32: the "64MB" test plugs a 1 MiB segment.
    pytest.param(
        Fragmentation("64MB", 512, 256, 33, 3 * MIB, 2 * MIB, 2 * MIB), id="uvm_physseg_64MB"
    ),
    pytest.param(
        Fragmentation("128MB", 256, 32512, 4065, 128 * MIB, MIB, MIB), id="uvm_physseg_128MB"
    ),
    # Quirk 32: "if (pa < ctob(END_5))" is always true, so every lookup is shifted by 1 MiB
    # and lands in [1, 257) MiB, the top MiB past the end of memory.
    pytest.param(
        Fragmentation("256MB", 256, 65280, 8161, 256 * MIB, 256 * MIB, MIB),
        id="uvm_physseg_256MB",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("case", FRAGMENTATIONS)
def test_uvm_physseg_fragmentation(case: Fragmentation) -> None:
    """Boot segment A = [0, 256), hot-plugged B chopped into ``(b_pages / 8)`` fragments."""
    k = RBTREE_MAX32.kernel()
    ok, _ = k.uvm_physseg_plug(0, 256)
    assert ok
    assert k.uvm_physseg_get_entries() == 1

    slab = k.uvm_page_init_fake(256 + case.b_pages)
    assert k.uvmexp.npages == 256
    assert k.uvm.page_init_done

    ok, upm_b = k.uvm_physseg_plug(case.b_start, case.b_pages)
    assert ok
    assert k.uvm_physseg_get_entries() == 2
    pgs_b = k.uvm_physseg_get_pg(upm_b, 0)
    assert pgs_b is not None
    assert pgs_b.slab is slab.slab  # scavenged from the boot slab's tail

    # In every 8-frame group of B the first 1-7 frames go: a front trim, then middle splits.
    rng = random.Random(SEED)
    removed: list[int] = []
    for pfn in range(case.b_start, case.b_end, PF_STEP):
        chunk = rng.randrange(1, PF_STEP)
        assert k.uvm_physseg_unplug(pfn, chunk)
        removed.append(chunk)
    assert k.uvm_physseg_get_entries() == case.segments
    assert k.uvmexp.npages == 256 + case.b_pages - sum(removed)

    def managed(pfn: int) -> bool:
        if pfn < 256:
            return True
        if not case.b_start <= pfn < case.b_end:
            return False
        group = (pfn - case.b_start) // PF_STEP
        return (pfn - case.b_start) % PF_STEP >= removed[group]

    hits = misses = 0
    for _ in range(LOOKUPS):
        pa = rng.randrange(case.lookup_mod)
        if pa < case.lookup_lo:
            pa += case.lookup_add
        pfn = k.atop(pa)
        page = k.PHYS_TO_VM_PAGE(pa)
        if managed(pfn):
            hits += 1
            assert k.uvm_pageismanaged(pa)
            assert page is not None
            assert page.phys_addr == k.ctob(pfn)
            assert k.VM_PAGE_TO_PHYS(page) == k.ctob(pfn)
        else:
            misses += 1
            assert not k.uvm_pageismanaged(pa)
            assert page is None
    assert hits > 0
    assert misses > 0
