"""virtio-mem, as Linux's ``drivers/virtio/virtio_mem.c`` drives it in Sub Block Mode, driving a
:class:`physseg.PhysMem`.

The device offers a region of guest-physical memory cut into device blocks (2 MiB by default)
and a *requested size*; the driver plugs and unplugs device blocks until its *plugged size*
matches. Linux adds memory to the system in memory blocks (128 MiB on x86-64) and plugs the
device blocks inside them as sub blocks. What the simulation keeps from the driver:

* one work-queue run (:meth:`VirtioMemDriver.run`) handles the whole difference, in sub-block
  units (rounded down);
* plugging fills partially plugged memory blocks first (lowest first, each from its first
  unplugged sub block, runs of adjacent sub blocks in one request), then plugs unused memory
  blocks from their first sub block, as many sub blocks per request as still needed;
* unplugging walks partially plugged memory blocks from the highest down, then fully plugged
  ones; when a whole block is wanted it first tries to unplug the whole block, then falls back
  to single sub blocks from the top of the block, skipping busy ones;
* a sub block with a page in use cannot be unplugged (Linux cannot isolate it: ``-EBUSY``);
  here the :class:`PhysMem` safe mode refuses the unplug (``PagesBusyError``), and a request
  left short ends the run with "EBUSY", to be retried the next step (Linux arms a timer).

Each plug or unplug request to the device becomes one :meth:`PhysMem.plug` /
:meth:`PhysMem.unplug` call. physseg differs in two places, both named here: sub blocks are
device blocks (Linux rounds a sub block up to the buddy allocator's largest block, 4 MiB on
x86-64), and a memory block made of several segments is unplugged segment by segment from the
top, so a refusal half-way leaves the pieces above it unplugged (Linux offlines the whole block
at once or not at all). Linux migrates movable pages out of the way; the simulated workload's
pages stay put.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.errors import InvalidArgumentError, OutOfMemoryError, PagesBusyError, Reason
from physseg.pagealloc import PageAllocator
from physseg.physmem import PhysMem
from physseg.simulate.balloon import PAGE_SIZE, boot_machine
from physseg.simulate.schedule import Schedule, random_steps
from physseg.simulate.timeline import LookupProbe, Refusal, SimResult
from physseg.simulate.workload import Workload

DEVICE_BLOCK_MIB: Final = 2
"""The default device block size (QEMU's default for a virtio-mem device on x86-64)."""
MEMORY_BLOCK_MIB: Final = 128
"""Linux's memory block size on x86-64 (``memory_block_size_bytes()`` below 64 GiB of RAM)."""


class VirtioMemDevice:
    """The device side: the region ``[addr, addr + region_pages)`` (PFNs), its block size in
    pages, the requested size in pages and a bitmap of plugged device blocks.

    :meth:`plug` and :meth:`unplug` are the guest's requests (``VIRTIO_MEM_REQ_PLUG`` /
    ``_UNPLUG``): acknowledged when they name whole blocks inside the region in the opposite
    state, otherwise answered with ``InvalidArgumentError`` (``VIRTIO_MEM_RESP_ERROR``).
    """

    __slots__ = ("addr", "block_pages", "plugged", "region_pages", "requested_pages")

    def __init__(self, addr: int, region_pages: int, block_pages: int) -> None:
        if block_pages < 1 or region_pages % block_pages or addr % block_pages:
            raise InvalidArgumentError(
                "virtio-mem device",
                Reason.BAD_VALUE,
                detail=f"region {addr:#x}+{region_pages} pages is not made of"
                f" {block_pages}-page blocks",
            )
        self.addr = addr
        self.region_pages = region_pages
        self.block_pages = block_pages
        self.requested_pages = 0
        self.plugged: npt.NDArray[np.bool_] = np.zeros(region_pages // block_pages, dtype=bool)

    @property
    def plugged_pages(self) -> int:
        """The plugged size, in pages."""
        return int(np.count_nonzero(self.plugged)) * self.block_pages

    def request(self, kib: int, page_size: int) -> None:
        """The host asks for ``kib`` KiB: rounded down to whole blocks, capped at the region."""
        pages = min(kib * 1024 // page_size, self.region_pages)
        self.requested_pages = pages - pages % self.block_pages

    def _blocks(self, pfn: int, npages: int, plugged: bool) -> slice:
        first, rest = divmod(pfn - self.addr, self.block_pages)
        count, extra = divmod(npages, self.block_pages)
        blocks = slice(first, first + count)
        if (
            rest
            or extra
            or count < 1
            or first < 0
            or blocks.stop > self.plugged.size
            or bool(self.plugged[blocks].any()) != plugged
            or bool(self.plugged[blocks].all()) != plugged
        ):
            state = "plugged" if plugged else "unplugged"
            raise InvalidArgumentError(
                "virtio-mem device",
                Reason.BAD_VALUE,
                pfn=pfn,
                npages=npages,
                detail=f"not whole {state} blocks of the region",
            )
        return blocks

    def plug(self, pfn: int, npages: int) -> None:
        """Plug the unplugged blocks ``[pfn, pfn + npages)``."""
        self.plugged[self._blocks(pfn, npages, plugged=False)] = True

    def unplug(self, pfn: int, npages: int) -> None:
        """Unplug the plugged blocks ``[pfn, pfn + npages)``."""
        self.plugged[self._blocks(pfn, npages, plugged=True)] = False


class _RequestFailed(Exception):
    """A plug request the kernel could not carry out (Linux: ``-ENOMEM``)."""


class VirtioMemDriver:
    """Linux's virtio-mem driver (Sub Block Mode) for ``device`` over ``mem``.

    Sub blocks are the device's blocks; memory blocks are ``memory_block_pages`` pages, and only
    the whole memory blocks inside the region are used (Linux rounds the region's start up).
    ``state[mb, sb]`` says whether sub block ``sb`` of memory block ``mb`` is plugged;
    ``refusals`` collects the safe-unplug refusals as ``(pfn, npages, message)``.
    """

    __slots__ = (
        "device",
        "first_mb",
        "mb_pages",
        "mem",
        "plugs",
        "refusals",
        "sb_pages",
        "sbs",
        "state",
        "unplugs",
    )

    def __init__(self, mem: PhysMem, device: VirtioMemDevice, *, memory_block_pages: int) -> None:
        if memory_block_pages % device.block_pages:
            raise InvalidArgumentError(
                "virtio-mem",
                Reason.BAD_VALUE,
                detail=f"the block size ({device.block_pages} pages) is not supported:"
                f" it must divide the memory block ({memory_block_pages} pages)",
            )
        self.mem = mem
        self.device = device
        self.mb_pages = memory_block_pages
        self.sb_pages = device.block_pages
        self.sbs = memory_block_pages // device.block_pages
        self.first_mb = -(-device.addr // memory_block_pages)
        last_mb = (device.addr + device.region_pages) // memory_block_pages
        self.state: npt.NDArray[np.bool_] = np.zeros(
            (max(0, last_mb - self.first_mb), self.sbs), dtype=bool
        )
        self.plugs = 0
        self.unplugs = 0
        self.refusals: list[tuple[int, int, str]] = []

    def _pfn(self, mb: int, sb: int) -> int:
        return (self.first_mb + mb) * self.mb_pages + sb * self.sb_pages

    def run(self) -> str | None:
        """One work-queue run: plug or unplug toward the requested size. Returns why it fell
        short ("ENOSPC", "ENOMEM" or "EBUSY" with details), else ``None``."""
        diff = self.device.requested_pages - self.device.plugged_pages
        nb_sb = abs(diff) // self.sb_pages
        if not nb_sb:
            return None
        try:
            left = self._plug_request(nb_sb) if diff > 0 else self._unplug_request(nb_sb)
        except _RequestFailed as exc:
            return f"ENOMEM: {exc}"
        if not left:
            return None
        if diff > 0:
            return f"ENOSPC: no room left in the device region for {left} more device blocks"
        return f"EBUSY: {left} device blocks hold pages in use; retrying later"

    # ----------------------------------------------------------------- plug
    def _plug_request(self, nb_sb: int) -> int:
        counts = self.state.sum(axis=1)
        for mb in np.flatnonzero((counts > 0) & (counts < self.sbs)).tolist():
            nb_sb = self._plug_any_sb(mb, nb_sb)
            if not nb_sb:
                return 0
        for mb in np.flatnonzero(counts == 0).tolist():
            count = min(nb_sb, self.sbs)
            self._plug_sb(mb, 0, count)
            nb_sb -= count
            if not nb_sb:
                return 0
        return nb_sb

    def _plug_any_sb(self, mb: int, nb_sb: int) -> int:
        row = self.state[mb]
        while nb_sb and not row.all():
            sb = int(np.argmin(row))
            count = 1
            while count < nb_sb and sb + count < self.sbs and not row[sb + count]:
                count += 1
            self._plug_sb(mb, sb, count)
            nb_sb -= count
        return nb_sb

    def _plug_sb(self, mb: int, sb: int, count: int) -> None:
        pfn = self._pfn(mb, sb)
        npages = count * self.sb_pages
        try:
            self.mem.plug(pfn, npages)
        except OutOfMemoryError as exc:
            raise _RequestFailed(str(exc)) from None
        self.plugs += 1
        self.device.plug(pfn, npages)
        self.state[mb, sb : sb + count] = True

    # ----------------------------------------------------------------- unplug
    def _unplug_request(self, nb_sb: int) -> int:
        counts = self.state.sum(axis=1)
        for wanted in ((counts > 0) & (counts < self.sbs), counts == self.sbs):
            for mb in np.flatnonzero(wanted)[::-1].tolist():
                nb_sb = self._unplug_any_sb(mb, nb_sb)
                if not nb_sb:
                    return 0
        return nb_sb

    def _unplug_any_sb(self, mb: int, nb_sb: int) -> int:
        row = self.state[mb]
        if nb_sb >= self.sbs and row.all():
            done = self._unplug_range(self._pfn(mb, 0), self.mb_pages) // self.sb_pages
            row[self.sbs - done :] = False
            nb_sb -= done
            if done == self.sbs:
                return nb_sb
        for sb in range(self.sbs - 1, -1, -1):
            if not nb_sb:
                break
            if row[sb] and self._unplug_range(self._pfn(mb, sb), self.sb_pages):
                row[sb] = False
                nb_sb -= 1
        return nb_sb

    def _unplug_range(self, pfn: int, npages: int) -> int:
        """Unplug ``[pfn, pfn + npages)`` segment by segment from the top; stops at the first
        safe-unplug refusal. Returns the pages unplugged (whole sub blocks)."""
        top = pfn + npages
        while top > pfn:
            found = self.mem.find(top - 1)
            assert found is not None, f"plugged pfn {top - 1:#x} is not managed"
            piece = max(found[0].start, pfn)
            try:
                self.mem.unplug(piece, top - piece)
            except PagesBusyError as exc:
                self.refusals.append((piece, top - piece, str(exc)))
                break
            self.unplugs += 1
            self.device.unplug(piece, top - piece)
            top = piece
        return pfn + npages - top


@dataclass(frozen=True, slots=True)
class VirtioMemConfig:
    """One virtio-mem simulation: boot memory, device region, device block and memory block
    sizes in MiB, whether a workload runs, lookups timed per sample. Raises
    ``InvalidArgumentError`` unless the device block divides the memory block and the region is
    whole memory blocks."""

    boot_mib: int = 256
    region_mib: int = 1024
    block_mib: int = DEVICE_BLOCK_MIB
    memory_block_mib: int = MEMORY_BLOCK_MIB
    workload: bool = True
    lookup_probes: int = 1000

    def __post_init__(self) -> None:
        if (
            self.block_mib < 1
            or self.memory_block_mib % self.block_mib
            or self.region_mib < self.memory_block_mib
            or self.region_mib % self.memory_block_mib
        ):
            raise InvalidArgumentError(
                "virtio-mem",
                Reason.BAD_VALUE,
                detail=f"the device block ({self.block_mib} MiB) must divide the memory"
                f" block ({self.memory_block_mib} MiB), and the region ({self.region_mib} MiB)"
                " must be whole memory blocks",
            )

    def as_dict(self) -> dict[str, object]:
        """The parameters, JSON-ready."""
        return asdict(self)


def default_schedule(config: VirtioMemConfig, steps: int, seed: int) -> Schedule:
    """The default requested size: a random staircase (seeded) in device blocks, starting at
    half the region and alternating between the upper three quarters of the region and its
    lowest quarter (where the workload's pages are in the way)."""
    region_kib = config.region_mib << 10
    block_kib = config.block_mib << 10
    return random_steps(
        np.random.default_rng(seed),
        steps,
        (0, region_kib),
        start_kib=region_kib // 2 // block_kib * block_kib,
        pivot_kib=region_kib // 4,
        quantum_kib=block_kib,
    )


def run_virtio_mem(
    config: VirtioMemConfig,
    *,
    steps: int,
    seed: int,
    coalesce: bool,
    schedule: Schedule | None = None,
) -> SimResult:
    """Simulate ``steps`` work-queue runs on a fresh machine whose device region starts at the
    first memory block above boot memory. Each step: the device takes the schedule's requested
    size, the driver runs once, the workload (if any) moves, and a :class:`Sample` is taken."""
    began = time.perf_counter()
    mib_pages = (1 << 20) // PAGE_SIZE
    mem = boot_machine(config.boot_mib * mib_pages, coalesce=coalesce)
    mb_pages = config.memory_block_mib * mib_pages
    addr = -(-max(seg.end for seg in mem) // mb_pages) * mb_pages
    device = VirtioMemDevice(addr, config.region_mib * mib_pages, config.block_mib * mib_pages)
    driver = VirtioMemDriver(mem, device, memory_block_pages=mb_pages)
    pages = PageAllocator(mem)
    schedule = schedule if schedule is not None else default_schedule(config, steps, seed)
    workload = Workload(pages, np.random.default_rng(seed + 1)) if config.workload else None
    probe = LookupProbe(np.random.default_rng(seed + 2), probes=config.lookup_probes)
    result = SimResult("virtio-mem", "coalesce" if coalesce else "plain", seed, config.as_dict())
    free_pages = pages.usage().free
    for step in range(steps):
        device.request(schedule.target_kib(step), PAGE_SIZE)
        seen = len(driver.refusals)
        outcome = driver.run()
        notes = [outcome] if outcome else []
        for pfn, npages, message in driver.refusals[seen:]:
            result.refusals.append(Refusal(step, pfn, npages, message))
        if len(driver.refusals) > seen:
            notes.append(
                f"safe unplug refused {len(driver.refusals) - seen} range(s), the first:"
                f" {driver.refusals[seen][2]}"
            )
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
            target_pages=device.requested_pages,
            current_pages=device.plugged_pages,
            plugs=driver.plugs,
            unplugs=driver.unplugs,
        )
    result.wall_seconds = time.perf_counter() - began
    return result
