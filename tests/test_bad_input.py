"""Hostile input to the Pythonic face: one table of bad calls, each refused cleanly.

Every row is a machine set up in a known state, a call that must be refused, the
``PhysSegError`` subclass it must raise and the fragments its message must contain: the range
(in hex, ``[start, end)`` PFNs) or the bad value, and the reason. Each row also checks that the
refusal left :func:`full_state` (snapshot, counters, descriptors, page entries) exactly as it
was before the call.

Rows cover wrong types, negative and huge values, zero sizes, overlaps with every neighbour
arrangement, ranges crossing segments or holes, stale segment views, boot-only calls at run
time and run-time calls at boot, the last segment, full tables (the static array, the boot
pool), and what the kernel cannot do (hot-plug on the static array, static middle splits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from physseg import (
    BootPhaseError,
    CapacityError,
    InvalidArgumentError,
    LastSegmentError,
    OutOfMemoryError,
    PhysMem,
    PhysSegError,
    RangeNotManagedError,
    RangeOverlapError,
    Segment,
    StaleSegmentError,
    UnsupportedOperationError,
)
from support.naive import full_state

Views = dict[str, Segment]
MAX_PFN = 1 << 52
"""One past the highest PFN of a 64-bit address space with 4 KiB pages."""


def loaded() -> tuple[PhysMem, Views]:
    """Boot time: A = [0x100, 0x200), B = [0x300, 0x400), C = [0x400, 0x410) (adjacent to B)."""
    pm = PhysMem(physseg_max=8)
    views = {
        "A": pm.load(0x100, 0x200),
        "B": pm.load(0x300, 0x400),
        "C": pm.load(0x400, 0x410),
    }
    return pm, views


def booted() -> tuple[PhysMem, Views]:
    """``loaded`` booted, D = [0x600, 0x620) hot-plugged; stale views of A (before a front
    trim), B (before a middle split) and E = [0x700, 0x708) (before it was unplugged)."""
    pm, views = loaded()
    pm.boot(steal=False)
    views["D"] = pm.plug(0x600, 0x20)
    views["E"] = pm.plug(0x700, 8)
    pm.unplug(0x700, 8)
    pm.unplug(0x100, 4)
    pm.unplug(0x380, 4)
    return pm, views


def single() -> tuple[PhysMem, Views]:
    """Booted with one segment [0x100, 0x140)."""
    pm = PhysMem()
    view = pm.load(0x100, 0x140)
    pm.boot(steal=False)
    return pm, {"A": view}


def one_page() -> tuple[PhysMem, Views]:
    """Boot time, one segment of one page [0x100, 0x101)."""
    pm = PhysMem()
    return pm, {"A": pm.load(0x100, 0x101)}


def nothing_free() -> tuple[PhysMem, Views]:
    """Boot time, one segment [0x100, 0x140) with an empty avail window."""
    pm = PhysMem()
    return pm, {"A": pm.load(0x100, 0x140, 0x140, 0x140)}


def fresh() -> tuple[PhysMem, Views]:
    """Boot time, nothing loaded."""
    return PhysMem(), {}


def pool_full() -> tuple[PhysMem, Views]:
    """rbtree, ``physseg_max=2``, both boot pool slots used."""
    pm = PhysMem(physseg_max=2)
    return pm, {"A": pm.load(0x100, 0x200), "B": pm.load(0x300, 0x400)}


def pool_full_split() -> tuple[PhysMem, Views]:
    """rbtree, ``physseg_max=1``: [0x100, 0x140) whose free pages [0x120, 0x130) sit in the
    middle, so stealing one splits the segment and needs a second pool slot."""
    pm = PhysMem(physseg_max=1)
    return pm, {"A": pm.load(0x100, 0x140, 0x120, 0x130)}


def max1_booted() -> tuple[PhysMem, Views]:
    """rbtree, ``physseg_max=1``: boot segment A = [0x100, 0x140) and hot-plugged B."""
    pm = PhysMem(physseg_max=1)
    views = {"A": pm.load(0x100, 0x140)}
    pm.boot(steal=False)
    views["B"] = pm.plug(0x200, 8)
    return pm, views


def static_full() -> tuple[PhysMem, Views]:
    """Static array of two slots, both used, at boot."""
    pm = PhysMem("static", physseg_max=2)
    return pm, {"A": pm.load(0x100, 0x200), "B": pm.load(0x300, 0x400)}


def static_booted() -> tuple[PhysMem, Views]:
    """Static array, A and B loaded, booted."""
    pm = PhysMem("static", physseg_max=4)
    views = {"A": pm.load(0x100, 0x200), "B": pm.load(0x300, 0x400)}
    pm.boot(steal=False)
    return pm, views


@dataclass(frozen=True)
class Bad:
    """One bad call: set-up, the call, the error and message fragments it must produce."""

    ident: str
    setup: Callable[[], tuple[PhysMem, Views]]
    call: Callable[[PhysMem, Views], object]
    error: type[PhysSegError]
    fragments: tuple[str, ...]


TABLE = [
    # ---- wrong types
    Bad("load-start-str", fresh, lambda pm, v: pm.load("0", 10), InvalidArgumentError,
        ("load: start must be an int", "str '0'")),
    Bad("load-end-float", fresh, lambda pm, v: pm.load(0, 10.0), InvalidArgumentError,
        ("load: end must be an int", "float 10.0")),
    Bad("load-start-bool", fresh, lambda pm, v: pm.load(True, 10), InvalidArgumentError,
        ("start must be an int", "bool True")),
    Bad("load-avail-str", fresh, lambda pm, v: pm.load(0, 10, avail_start="2"),
        InvalidArgumentError, ("avail_start must be an int",)),
    Bad("load-free-list-none", fresh, lambda pm, v: pm.load(0, 10, free_list=None),
        InvalidArgumentError, ("free_list must be an int", "NoneType")),
    Bad("plug-pfn-none", booted, lambda pm, v: pm.plug(None, 4), InvalidArgumentError,
        ("plug: pfn must be an int", "None")),
    Bad("plug-npages-float", booted, lambda pm, v: pm.plug(0x800, 2.5), InvalidArgumentError,
        ("plug at pfn 0x800: npages must be an int", "2.5")),
    Bad("unplug-pfn-str", booted, lambda pm, v: pm.unplug("0x100", 1), InvalidArgumentError,
        ("unplug: pfn must be an int", "'0x100'")),
    Bad("find-float", booted, lambda pm, v: pm.find(1.0), InvalidArgumentError,
        ("find: pfn must be an int", "1.0")),
    Bad("page-none", booted, lambda pm, v: pm.page(None), InvalidArgumentError,
        ("page: pa must be an int",)),
    Bad("hint-not-a-segment", booted, lambda pm, v: pm.set_start_hint((0x600, 0x620), 1),
        InvalidArgumentError, ("expected a Segment", "(1536, 1568)")),
    Bad("hint-str", booted, lambda pm, v: pm.set_start_hint(v["D"], "1"), InvalidArgumentError,
        ("hint must be an int", "'1'")),
    Bad("pages-strings", booted, lambda pm, v: pm.pages(["0x1000"]), InvalidArgumentError,
        ("pages: addresses must be integers",)),
    Bad("pages-floats", booted, lambda pm, v: pm.pages([4096.5]), InvalidArgumentError,
        ("pages: addresses must be integers", "float64")),
    Bad("pages-bools", booted, lambda pm, v: pm.pages(np.array([True])), InvalidArgumentError,
        ("pages: addresses must be integers", "bool")),
    # ---- negative and huge values
    Bad("load-negative-start", fresh, lambda pm, v: pm.load(-1, 10), InvalidArgumentError,
        ("load: start must be >= 0, not -1",)),
    Bad("load-negative-end", fresh, lambda pm, v: pm.load(0, -5), InvalidArgumentError,
        ("load: end must be >= 0, not -5",)),
    Bad("load-beyond-64-bits", fresh, lambda pm, v: pm.load(MAX_PFN - 1, MAX_PFN + 1),
        InvalidArgumentError, ("[0xfffffffffffff, 0x10000000000001)", "64-bit")),
    Bad("plug-negative", booted, lambda pm, v: pm.plug(-4, 4), InvalidArgumentError,
        ("plug: pfn must be >= 0, not -4",)),
    Bad("plug-beyond-64-bits", booted, lambda pm, v: pm.plug(MAX_PFN - 2, 4),
        InvalidArgumentError, ("plug [0xffffffffffffe, 0x10000000000002)", "64-bit")),
    Bad("unplug-huge", booted, lambda pm, v: pm.unplug(1 << 70, 1), InvalidArgumentError,
        ("unplug [0x400000000000000000, 0x400000000000000001)", "64-bit")),
    Bad("find-negative", booted, lambda pm, v: pm.find(-1), InvalidArgumentError,
        ("find: pfn must be >= 0, not -1",)),
    Bad("page-negative", booted, lambda pm, v: pm.page(-4096), InvalidArgumentError,
        ("page: pa must be >= 0, not -4096",)),
    Bad("hint-negative", booted, lambda pm, v: pm.set_start_hint(v["D"], -1),
        InvalidArgumentError, ("hint must be >= 0, not -1",)),
    Bad("hint-beyond-u-long", booted, lambda pm, v: pm.set_start_hint(v["D"], 1 << 64),
        InvalidArgumentError, ("hint must be <= 0xffffffffffffffff", "0x10000000000000000")),
    Bad("pages-negative", booted, lambda pm, v: pm.pages([0, -4096]), InvalidArgumentError,
        ("pages: address -0x1000 is negative",)),
    Bad("pages-beyond-64-bits", booted, lambda pm, v: pm.pages([1 << 64]),
        InvalidArgumentError, ("pages: address 0x10000000000000000 is not in [0, 2**64)",)),
    # ---- zero sizes
    Bad("load-empty-span", fresh, lambda pm, v: pm.load(0x10, 0x10), InvalidArgumentError,
        ("load [0x10, 0x10): empty span",)),
    Bad("load-inverted-span", fresh, lambda pm, v: pm.load(0x20, 0x10), InvalidArgumentError,
        ("load [0x20, 0x10): empty span",)),
    Bad("plug-zero-pages", booted, lambda pm, v: pm.plug(0x800, 0), InvalidArgumentError,
        ("plug at pfn 0x800: npages must be >= 1, not 0",)),
    Bad("unplug-zero-pages", booted, lambda pm, v: pm.unplug(0x600, 0), InvalidArgumentError,
        ("unplug at pfn 0x600: npages must be >= 1, not 0",)),
    # ---- avail window and free list
    Bad("load-avail-outside", fresh, lambda pm, v: pm.load(0, 0x10, avail_start=0x20),
        InvalidArgumentError, ("load [0x0, 0x10)", "avail window [0x20, 0x10)", "inside")),
    Bad("load-avail-inverted", fresh, lambda pm, v: pm.load(0, 0x10, 8, 4), InvalidArgumentError,
        ("load [0x0, 0x10)", "avail window [0x8, 0x4)", "inverted")),
    Bad("load-free-list-missing", fresh, lambda pm, v: pm.load(0, 0x10, free_list=4),
        InvalidArgumentError, ("load [0x0, 0x10)", "free list 4 does not exist")),
    Bad("load-free-list-negative", fresh, lambda pm, v: pm.load(0, 0x10, free_list=-1),
        InvalidArgumentError, ("free_list must be >= 0, not -1",)),
    # ---- overlaps, every neighbour arrangement
    Bad("load-same-range", loaded, lambda pm, v: pm.load(0x100, 0x200), RangeOverlapError,
        ("load [0x100, 0x200)", "overlaps segment [0x100, 0x200)")),
    Bad("load-inside", loaded, lambda pm, v: pm.load(0x120, 0x130), RangeOverlapError,
        ("load [0x120, 0x130)", "overlaps segment [0x100, 0x200)")),
    Bad("load-covering", loaded, lambda pm, v: pm.load(0x80, 0x280), RangeOverlapError,
        ("load [0x80, 0x280)", "overlaps segment [0x100, 0x200)")),
    Bad("load-over-front", loaded, lambda pm, v: pm.load(0x80, 0x101), RangeOverlapError,
        ("load [0x80, 0x101)", "overlaps segment [0x100, 0x200)")),
    Bad("load-over-back", loaded, lambda pm, v: pm.load(0x1FF, 0x250), RangeOverlapError,
        ("load [0x1ff, 0x250)", "overlaps segment [0x100, 0x200)")),
    Bad("load-bridging-two", loaded, lambda pm, v: pm.load(0x1FF, 0x301), RangeOverlapError,
        ("load [0x1ff, 0x301)", "overlaps segment [0x100, 0x200)")),
    Bad("load-across-adjacent", loaded, lambda pm, v: pm.load(0x3FF, 0x401), RangeOverlapError,
        ("load [0x3ff, 0x401)", "overlaps segment [0x300, 0x400)")),
    Bad("plug-over-front", booted, lambda pm, v: pm.plug(0x5F0, 0x11), RangeOverlapError,
        ("plug [0x5f0, 0x601)", "overlaps segment [0x600, 0x620)")),
    Bad("plug-over-back", booted, lambda pm, v: pm.plug(0x61F, 4), RangeOverlapError,
        ("plug [0x61f, 0x623)", "overlaps segment [0x600, 0x620)")),
    Bad("plug-inside", booted, lambda pm, v: pm.plug(0x604, 4), RangeOverlapError,
        ("plug [0x604, 0x608)", "overlaps segment [0x600, 0x620)")),
    Bad("plug-covering", booted, lambda pm, v: pm.plug(0x500, 0x200), RangeOverlapError,
        ("plug [0x500, 0x700)", "overlaps segment [0x600, 0x620)")),
    # ---- ranges crossing segments or holes
    Bad("unplug-in-hole", booted, lambda pm, v: pm.unplug(0x250, 1), RangeNotManagedError,
        ("unplug [0x250, 0x251)", "pfn 0x250 is in a hole")),
    Bad("unplug-into-hole", booted, lambda pm, v: pm.unplug(0x1F0, 0x20), RangeNotManagedError,
        ("unplug [0x1f0, 0x210)", "crosses the end of segment [0x104, 0x200)")),
    Bad("unplug-across-adjacent", booted, lambda pm, v: pm.unplug(0x3FF, 3),
        RangeNotManagedError,
        ("unplug [0x3ff, 0x402)", "crosses the end of segment [0x384, 0x400)")),
    Bad("unplug-from-hole-into-segment", booted, lambda pm, v: pm.unplug(0x2F0, 0x20),
        RangeNotManagedError, ("unplug [0x2f0, 0x310)", "pfn 0x2f0 is in a hole")),
    Bad("unplug-past-everything", booted, lambda pm, v: pm.unplug(0x900, 1),
        RangeNotManagedError, ("unplug [0x900, 0x901)", "in a hole")),
    # ---- stale segments
    Bad("hint-unplugged-segment", booted, lambda pm, v: pm.set_start_hint(v["E"], 1),
        StaleSegmentError, ("segment [0x700, 0x708) is no longer live",)),
    Bad("hint-trimmed-segment", booted, lambda pm, v: pm.set_start_hint(v["A"], 1),
        StaleSegmentError, ("segment [0x100, 0x200) is no longer live",)),
    Bad("hint-split-segment", booted, lambda pm, v: pm.set_start_hint(v["B"], 1),
        StaleSegmentError, ("segment [0x300, 0x400) is no longer live",)),
    # ---- boot-only calls at run time, run-time calls at boot
    Bad("load-after-boot", booted, lambda pm, v: pm.load(0x800, 0x810), BootPhaseError,
        ("load: only allowed before boot()",)),
    Bad("steal-after-boot", booted, lambda pm, v: pm.steal_page(), BootPhaseError,
        ("steal_page: only allowed before boot()",)),
    Bad("boot-twice", booted, lambda pm, v: pm.boot(), BootPhaseError,
        ("boot: only allowed before boot()",)),
    Bad("boot-nothing-loaded", fresh, lambda pm, v: pm.boot(), BootPhaseError,
        ("boot: no memory loaded",)),
    Bad("plug-before-boot", loaded, lambda pm, v: pm.plug(0x800, 4), BootPhaseError,
        ("plug: only allowed after boot()",)),
    Bad("unplug-before-boot", loaded, lambda pm, v: pm.unplug(0x100, 4), BootPhaseError,
        ("unplug: only allowed after boot()",)),
    Bad("page-before-boot", loaded, lambda pm, v: pm.page(0x100000), BootPhaseError,
        ("page: only allowed after boot()",)),
    Bad("pages-before-boot", loaded, lambda pm, v: pm.pages([0x100000]), BootPhaseError,
        ("pages: only allowed after boot()",)),
    # ---- the last segment, and nothing left to steal
    Bad("unplug-last-segment", single, lambda pm, v: pm.unplug(0x100, 0x40), LastSegmentError,
        ("unplug [0x100, 0x140)", "would remove the last segment [0x100, 0x140)")),
    Bad("steal-last-page", one_page, lambda pm, v: pm.steal_page(), LastSegmentError,
        ("steal_page", "would remove the last segment [0x100, 0x101)")),
    Bad("boot-steals-last-page", one_page, lambda pm, v: pm.boot(), LastSegmentError,
        ("boot", "would remove the last segment [0x100, 0x101)")),
    Bad("steal-nothing-free", nothing_free, lambda pm, v: pm.steal_page(), OutOfMemoryError,
        ("steal_page: no free page left",)),
    Bad("boot-nothing-free", nothing_free, lambda pm, v: pm.boot(), OutOfMemoryError,
        ("boot: no free page left to steal",)),
    Bad("plug-more-than-managed", single, lambda pm, v: pm.plug(0x200, 0x41), OutOfMemoryError,
        ("plug [0x200, 0x241)", "sized from uvmexp.npages (64 < 65)")),
    # ---- full tables
    Bad("load-static-array-full", static_full, lambda pm, v: pm.load(0x500, 0x510),
        CapacityError, ("load [0x500, 0x510)", "all 2 boot segment slots are used")),
    Bad("load-boot-pool-full", pool_full, lambda pm, v: pm.load(0x500, 0x510), CapacityError,
        ("load [0x500, 0x510)", "all 2 boot segment slots are used")),
    Bad("steal-splits-with-pool-full", pool_full_split, lambda pm, v: pm.steal_page(),
        CapacityError, ("steal_page", "needs a boot segment slot", "all 1 are used")),
    # ---- what the kernel cannot do
    Bad("static-plug", static_booted, lambda pm, v: pm.plug(0x800, 4),
        UnsupportedOperationError, ("plug [0x800, 0x804)", "static backend cannot hot-plug")),
    Bad("static-middle-unplug", static_booted, lambda pm, v: pm.unplug(0x180, 4),
        UnsupportedOperationError,
        ("unplug [0x180, 0x184)", "cannot split segment [0x100, 0x200) in the middle")),
    Bad("max1-unplug-boot-segment", max1_booted, lambda pm, v: pm.unplug(0x100, 0x40),
        UnsupportedOperationError,
        ("unplug [0x100, 0x140)", "only boot pool record", "physseg_max=1")),
]  # fmt: skip


@pytest.mark.parametrize("bad", TABLE, ids=lambda bad: bad.ident)
def test_bad_call_is_refused_cleanly(bad: Bad) -> None:
    pm, views = bad.setup()
    before = full_state(pm)
    with pytest.raises(bad.error) as info:
        bad.call(pm, views)
    message = str(info.value)
    for fragment in bad.fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert full_state(pm) == before
    pm.check()


def test_the_table_is_large_and_covers_every_error_type() -> None:
    assert len(TABLE) >= 40
    assert len({bad.ident for bad in TABLE}) == len(TABLE)
    assert {bad.error for bad in TABLE} == {
        InvalidArgumentError,
        RangeOverlapError,
        RangeNotManagedError,
        StaleSegmentError,
        BootPhaseError,
        LastSegmentError,
        OutOfMemoryError,
        CapacityError,
        UnsupportedOperationError,
    }
