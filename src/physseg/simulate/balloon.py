"""The Xen balloon driver, as NetBSD's ``sys/arch/xen/xen/balloon.c`` (``UVM_HOTPLUG`` build)
behaves, driving a :class:`physseg.PhysMem`.

What the simulation keeps from the driver:

* the target reservation arrives in KiB (``memory/target``); the watcher rejects 0 (bogus), a
  target below the minimum reservation (``XEN_RESERVATION_MIN = uvmexp.freemin +
  BALLOON_BALLAST`` pages, shown in KiB) and one above the hypervisor's maximum, and converts
  the rest to pages rounding up (``BALLOON_KB_TO_PAGES``);
* the balloon thread moves the current reservation toward the target by at most
  ``BALLOON_DELTA = PAGE_SIZE / sizeof(xen_pfn_t)`` pages (512 with 4 KiB pages) per iteration;
  when an iteration falls short it warns "could not reach target" and feeds the current
  reservation back as the target, so the driver rests until the next target;
* inflating allocates free pages (``uvm_pagealloc``) and hands them to the hypervisor, keeping
  them in a LIFO list of balloon entries; it stops at the first allocation failure;
* deflating asks the hypervisor for pages (``XENMEM_increase_reservation``, which may grant
  fewer), takes back balloon entries first (``uvm_pagefree``), and once the list is empty
  hot-plugs each further page at the end of memory (``pmap_pa_end``), **one page per
  ``uvm_physseg_plug`` call**.

Beyond the driver (physseg extensions, both on by default and named here):

* ``reclaim``: inflating first gives back hot-plugged pages by unplugging them from the top of
  memory, one page per call, through the safe unplug; the first refusal (a page in use) stops
  that and the rest is ballooned the NetBSD way. NetBSD never unplugs: hot-plugged memory stays
  managed for good.
* An integer wrap is not copied: the C computes ``MIN(target - current, BALLOON_DELTA)`` on
  ``size_t``, so an inflate always asks for ``BALLOON_DELTA`` pages and overshoots a nearer
  target, which the next iteration deflates back; physseg uses the distance.
* A hot-plug that fails returns its page to the hypervisor (NetBSD keeps the reservation).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np

from physseg.errors import InvalidArgumentError, OutOfMemoryError, PagesBusyError, Reason
from physseg.netbsd.constants import VM_FREELIST_FIRST4G, VM_FREELIST_FIRST16
from physseg.pagealloc import PageAllocator
from physseg.physmem import PhysMem
from physseg.simulate.schedule import Schedule, random_steps
from physseg.simulate.timeline import LookupProbe, Refusal, SimResult
from physseg.simulate.workload import Workload

SIZEOF_XEN_PFN: Final = 8
"""``sizeof(xen_pfn_t)`` on amd64: ``BALLOON_DELTA = PAGE_SIZE / sizeof(xen_pfn_t)``."""
BALLOON_BALLAST: Final = 256
"""Pages the driver never balloons beyond ``uvmexp.freemin`` (1 MiB of 4 KiB pages)."""
DEFAULT_FREEMIN: Final = 256
"""``uvmexp.freemin`` of the simulated machine, in pages (the page daemon's low-water mark;
NetBSD sizes it from memory, 1 MiB is its value for a few hundred MiB)."""
LOW_MEMORY: Final = (0x1, 0x9F)
"""The PC's conventional memory below 640 KiB, as a PFN range (page 0 is the BIOS's)."""
ISA_END: Final = 0x1000
"""First PFN above 16 MiB: below it pages go on ``VM_FREELIST_FIRST16``."""
PAGE_SIZE: Final = 4096
"""The simulated machines use 4 KiB pages (``PhysMem``'s default ``page_shift``)."""


def boot_layout(boot_pages: int) -> list[tuple[int, int, int]]:
    """The segments of a PC with ``boot_pages`` pages of RAM, as ``(start, end, free_list)``:
    conventional memory and 1 MiB to 16 MiB on ``VM_FREELIST_FIRST16``, the rest (below 4 GiB)
    on ``VM_FREELIST_FIRST4G``. Hot-plugged memory lands on ``VM_FREELIST_DEFAULT`` (0), which
    UVM allocates from first. Raises ``InvalidArgumentError`` below 32 MiB."""
    low = LOW_MEMORY[1] - LOW_MEMORY[0]
    end = 0x100 + boot_pages - low
    if end <= 2 * ISA_END:
        raise InvalidArgumentError(
            "balloon",
            Reason.BAD_VALUE,
            detail=f"boot memory of {boot_pages} pages is too small (32 MiB at least)",
        )
    return [
        (LOW_MEMORY[0], LOW_MEMORY[1], VM_FREELIST_FIRST16),
        (0x100, ISA_END, VM_FREELIST_FIRST16),
        (ISA_END, end, VM_FREELIST_FIRST4G),
    ]


def boot_machine(boot_pages: int, *, coalesce: bool) -> PhysMem:
    """A booted :class:`PhysMem` (safe unplug on) laid out by :func:`boot_layout`; the page
    array is stolen from the segments, as the kernel does."""
    mem = PhysMem(coalesce=coalesce, safe_unplug=True)
    for start, end, free_list in boot_layout(boot_pages):
        mem.load(start, end, free_list=free_list)
    mem.boot()
    return mem


class Hypervisor:
    """The Xen side of one domain's memory: the current and maximum reservation, in pages."""

    __slots__ = ("current", "maximum")

    def __init__(self, current: int, maximum: int) -> None:
        if not 0 < current <= maximum:
            raise ValueError(f"Hypervisor: need 0 < current {current} <= maximum {maximum}")
        self.current = current
        self.maximum = maximum

    def decrease_reservation(self, npages: int) -> None:
        """``XENMEM_decrease_reservation``: the domain gives ``npages`` pages back."""
        self.current -= npages

    def increase_reservation(self, npages: int) -> int:
        """``XENMEM_increase_reservation``: grant up to ``npages``, never beyond the maximum;
        returns the pages granted."""
        granted = max(0, min(npages, self.maximum - self.current))
        self.current += granted
        return granted


class XenBalloon:
    """The balloon driver of one domain over ``mem``, taking pages from ``pages``.

    ``target`` and the hypervisor's ``current`` are in pages; :meth:`watch` is the xenbus
    watcher (KiB in), :meth:`step` one balloon-thread iteration. ``refusals`` collects the
    safe-unplug refusals of the reclaim path as ``(pfn, message)``.
    """

    __slots__ = (
        "boot_end",
        "delta",
        "entries",
        "freemin",
        "hypervisor",
        "mem",
        "pa_end",
        "pages",
        "plugs",
        "reclaim",
        "refusals",
        "target",
        "unplugs",
    )

    def __init__(
        self,
        mem: PhysMem,
        pages: PageAllocator,
        hypervisor: Hypervisor,
        *,
        freemin: int = DEFAULT_FREEMIN,
        reclaim: bool = True,
    ) -> None:
        self.mem = mem
        self.pages = pages
        self.hypervisor = hypervisor
        self.freemin = freemin
        self.reclaim = reclaim
        self.delta = mem.page_size // SIZEOF_XEN_PFN
        self.target = hypervisor.current
        self.boot_end = max(seg.end for seg in mem)
        self.pa_end = self.boot_end
        self.entries: list[int] = []
        self.plugs = 0
        self.unplugs = 0
        self.refusals: list[tuple[int, str]] = []

    @property
    def page_kib(self) -> int:
        """``PAGE_SIZE_KB``."""
        return self.mem.page_size >> 10

    @property
    def min_kib(self) -> int:
        """The minimum reservation in KiB: ``BALLOON_PAGES_TO_KB(XEN_RESERVATION_MIN)``."""
        return (self.freemin + BALLOON_BALLAST) * self.page_kib

    @property
    def balloon_pages(self) -> int:
        """Pages currently in the balloon (allocated and given to the hypervisor)."""
        return len(self.entries)

    def watch(self, target_kib: int) -> str | None:
        """The ``memory/target`` watcher: validate ``target_kib`` and set the target in pages
        (rounded up). Returns why a target was rejected, else ``None``."""
        if target_kib == 0:
            return "target 0 KiB is bogus: ignored"
        if target_kib < self.min_kib:
            return f"new target {target_kib} KiB is below min {self.min_kib} KiB: rejected"
        max_kib = self.hypervisor.maximum * self.page_kib
        if target_kib > max_kib:
            return f"new target {target_kib} KiB is above max {max_kib} KiB: rejected"
        self.target = -(-target_kib // self.page_kib)
        return None

    def step(self) -> str | None:
        """One iteration of the balloon thread; returns a warning when it fell short (and the
        target was fed back to the current reservation), else ``None``."""
        current = self.hypervisor.current
        if current == self.target:
            return None
        diff = min(abs(self.target - current), self.delta)
        done = self._deflate(diff) if current < self.target else self._inflate(diff)
        if done == diff:
            return None
        target = self.target
        self.target = self.hypervisor.current
        return (
            f"could not reach target {target} pages (current {current}, moved {done} of"
            f" {diff}): target fed back to {self.target}"
        )

    def _inflate(self, npages: int) -> int:
        done = self._reclaim(npages) if self.reclaim else 0
        if done < npages:
            taken = self.pages.alloc(npages - done, partial=True)
            self.entries.extend(taken.tolist())
            done += int(taken.size)
        self.hypervisor.decrease_reservation(done)
        return done

    def _reclaim(self, npages: int) -> int:
        done = 0
        while done < npages and self.pa_end > self.boot_end:
            top = self.pa_end - 1
            try:
                self.mem.unplug(top, 1)
            except PagesBusyError as exc:
                self.refusals.append((top, str(exc)))
                break
            self.unplugs += 1
            self.pa_end = top
            done += 1
        return done

    def _deflate(self, npages: int) -> int:
        granted = self.hypervisor.increase_reservation(npages)
        back = min(granted, len(self.entries))
        if back:
            self.pages.free(np.array(self.entries[-back:], dtype=np.int64))
            del self.entries[-back:]
        done = back
        while done < granted:
            try:
                self.mem.plug(self.pa_end, 1)
            except OutOfMemoryError:
                self.hypervisor.decrease_reservation(granted - done)
                break
            self.plugs += 1
            self.pa_end += 1
            done += 1
        return done


@dataclass(frozen=True, slots=True)
class BalloonConfig:
    """One balloon simulation: machine sizes in MiB, the minimum reservation's ``freemin`` in
    pages, whether hot-plugged pages are reclaimed by unplugging, whether a workload runs.
    Raises ``InvalidArgumentError`` when the maximum reservation is below the boot memory."""

    boot_mib: int = 256
    max_mib: int = 320
    freemin: int = DEFAULT_FREEMIN
    reclaim: bool = True
    workload: bool = True
    lookup_probes: int = 1000

    def __post_init__(self) -> None:
        if self.max_mib < self.boot_mib:
            raise InvalidArgumentError(
                "balloon",
                Reason.BAD_VALUE,
                detail=f"maximum reservation {self.max_mib} MiB is below the boot memory"
                f" {self.boot_mib} MiB",
            )

    def as_dict(self) -> dict[str, object]:
        """The parameters, JSON-ready."""
        return asdict(self)


def default_schedule(config: BalloonConfig, steps: int, seed: int) -> Schedule:
    """The default target: a random staircase (seeded) starting at the boot reservation and
    alternating between growth above it (up to the maximum reservation: hot-plug) and shrinking
    below it (down to 3/4 of it: ballooning)."""
    boot_kib = config.boot_mib << 10
    return random_steps(
        np.random.default_rng(seed),
        steps,
        (boot_kib * 3 // 4, config.max_mib << 10),
        start_kib=boot_kib,
        pivot_kib=boot_kib,
    )


def run_balloon(
    config: BalloonConfig,
    *,
    steps: int,
    seed: int,
    coalesce: bool,
    schedule: Schedule | None = None,
) -> SimResult:
    """Simulate ``steps`` balloon-thread iterations on a fresh machine. Each step: the watcher
    sees the schedule's target when it changes, the thread iterates once, the workload (if any)
    moves, and a :class:`Sample` is taken. The same ``seed`` gives the same schedule and
    workload decisions under both policies."""
    began = time.perf_counter()
    boot_pages = config.boot_mib * (1 << 20) // PAGE_SIZE
    mem = boot_machine(boot_pages, coalesce=coalesce)
    pages = PageAllocator(mem)
    hypervisor = Hypervisor(boot_pages, config.max_mib * (1 << 20) // PAGE_SIZE)
    balloon = XenBalloon(mem, pages, hypervisor, freemin=config.freemin, reclaim=config.reclaim)
    schedule = schedule if schedule is not None else default_schedule(config, steps, seed)
    workload = Workload(pages, np.random.default_rng(seed + 1)) if config.workload else None
    probe = LookupProbe(np.random.default_rng(seed + 2), probes=config.lookup_probes)
    result = SimResult("balloon", "coalesce" if coalesce else "plain", seed, config.as_dict())
    written = None
    free_pages = pages.usage().free
    for step in range(steps):
        notes = []
        target_kib = schedule.target_kib(step)
        if target_kib != written:
            written = target_kib
            rejected = balloon.watch(target_kib)
            if rejected:
                notes.append(rejected)
        seen = len(balloon.refusals)
        warning = balloon.step()
        if warning:
            notes.append(warning)
        for pfn, message in balloon.refusals[seen:]:
            result.refusals.append(Refusal(step, pfn, 1, message))
            notes.append(f"safe unplug refused: {message}")
        if workload is not None:
            workload.step(free_pages)
        usage = pages.usage()
        free_pages = usage.free
        result.record(
            step,
            notes,
            mem,
            usage,
            probe,
            target_pages=balloon.target,
            current_pages=hypervisor.current,
            plugs=balloon.plugs,
            unplugs=balloon.unplugs,
        )
    result.wall_seconds = time.perf_counter() - began
    return result
