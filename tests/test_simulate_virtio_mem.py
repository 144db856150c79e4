"""The simulated virtio-mem device and Linux's driver (sub block mode) over PhysMem."""

from __future__ import annotations

import numpy as np
import pytest

from physseg import InvalidArgumentError, PhysMem
from physseg.pagealloc import PageAllocator
from physseg.simulate import (
    ConstantSchedule,
    StepSchedule,
    VirtioMemConfig,
    VirtioMemDevice,
    VirtioMemDriver,
    run_virtio_mem,
)
from physseg.simulate.balloon import boot_machine
from physseg.simulate.virtio_mem import default_schedule

SB = 16  # pages a device block (sub block)
MB = 64  # pages a memory block: 4 sub blocks
ADDR = 0x10000


def driver(*, coalesce: bool = True, region: int = 4 * MB, addr: int = ADDR) -> VirtioMemDriver:
    mem = PhysMem(coalesce=coalesce, safe_unplug=True)
    mem.load(0x100, 0x1100, free_list=1)
    mem.boot()
    return VirtioMemDriver(mem, VirtioMemDevice(addr, region, SB), memory_block_pages=MB)


def ask(drv: VirtioMemDriver, pages: int) -> str | None:
    drv.device.request(pages * 4, 4096)
    return drv.run()


# ----------------------------------------------------------------- the device
def test_device_rounds_the_request_down_to_blocks_and_caps_it() -> None:
    device = VirtioMemDevice(ADDR, 4 * MB, SB)
    device.request(40 * 4, 4096)
    assert device.requested_pages == 32
    device.request(10**9, 4096)
    assert device.requested_pages == 4 * MB


@pytest.mark.parametrize(
    ("pfn", "npages"), [(ADDR + 1, SB), (ADDR, SB + 1), (ADDR - SB, SB), (ADDR + 4 * MB, SB)]
)
def test_device_refuses_requests_that_are_not_whole_blocks_of_the_region(
    pfn: int, npages: int
) -> None:
    device = VirtioMemDevice(ADDR, 4 * MB, SB)
    with pytest.raises(InvalidArgumentError, match="not whole unplugged blocks"):
        device.plug(pfn, npages)


def test_device_refuses_plugging_twice_and_unplugging_what_is_not_plugged() -> None:
    device = VirtioMemDevice(ADDR, 4 * MB, SB)
    device.plug(ADDR, 2 * SB)
    with pytest.raises(InvalidArgumentError):
        device.plug(ADDR + SB, 2 * SB)
    with pytest.raises(InvalidArgumentError, match="plugged blocks"):
        device.unplug(ADDR + SB, 2 * SB)
    device.unplug(ADDR, 2 * SB)
    assert device.plugged_pages == 0


def test_device_region_must_be_whole_blocks() -> None:
    with pytest.raises(InvalidArgumentError, match="blocks"):
        VirtioMemDevice(ADDR, 4 * MB + 1, SB)
    with pytest.raises(InvalidArgumentError, match="blocks"):
        VirtioMemDevice(ADDR + 1, 4 * MB, SB)


def test_driver_needs_sub_blocks_that_divide_the_memory_block() -> None:
    mem = PhysMem()
    with pytest.raises(InvalidArgumentError, match="not supported"):
        VirtioMemDriver(mem, VirtioMemDevice(ADDR, 4 * MB, SB), memory_block_pages=MB + 8)


# ----------------------------------------------------------------- plugging
def test_plug_request_plugs_from_the_first_sub_block_in_one_call() -> None:
    drv = driver()
    assert ask(drv, 3 * SB) is None
    assert drv.plugs == 1 and drv.state[0].tolist() == [True, True, True, False]
    assert [str(s) for s in drv.mem][-1] == f"[{ADDR:#x}, {ADDR + 3 * SB:#x})"


def test_partially_plugged_blocks_are_filled_first() -> None:
    drv = driver()
    ask(drv, 3 * SB)
    drv.state[0, 1] = False
    drv.device.unplug(ADDR + SB, SB)
    drv.mem.unplug(ADDR + SB, SB)
    assert ask(drv, 5 * SB) is None
    assert drv.state[:2].tolist() == [[True] * 4, [True, False, False, False]]
    assert drv.plugs == 1 + 3


def test_a_region_that_is_full_says_enospc() -> None:
    drv = driver(addr=ADDR + SB, region=4 * MB)
    assert drv.state.shape == (3, 4)
    outcome = ask(drv, 4 * MB)
    assert outcome is not None and outcome.startswith("ENOSPC")
    assert drv.device.plugged_pages == 3 * MB


def test_a_plug_the_kernel_cannot_carry_out_says_enomem() -> None:
    mem = boot_machine(32 * 256, coalesce=False)
    drv = VirtioMemDriver(mem, VirtioMemDevice(0x8000, 0x8000, 512), memory_block_pages=0x8000)
    outcome = ask(drv, 0x8000)
    assert outcome is not None and outcome.startswith("ENOMEM")
    assert drv.device.plugged_pages == 0 and drv.plugs == 0


# ----------------------------------------------------------------- unplugging
def test_unplug_prefers_whole_memory_blocks_from_the_top() -> None:
    drv = driver()
    ask(drv, 3 * MB)
    assert ask(drv, MB) is None
    assert drv.unplugs == 2
    assert drv.state.sum(axis=1).tolist() == [4, 0, 0, 0]


def test_partially_plugged_blocks_are_unplugged_first() -> None:
    drv = driver()
    ask(drv, 2 * MB + SB)
    assert ask(drv, 2 * MB - SB) is None
    assert drv.state.sum(axis=1).tolist() == [4, 3, 0, 0]


def test_a_plain_machine_unplugs_a_block_segment_by_segment() -> None:
    drv = driver(coalesce=False)
    ask(drv, 2 * SB)
    ask(drv, 4 * SB)
    assert len(drv.mem) == 3
    ask(drv, 0)
    assert drv.unplugs == 2 and drv.device.plugged_pages == 0


def test_busy_sub_blocks_are_refused_and_skipped() -> None:
    drv = driver()
    ask(drv, MB)
    PageAllocator(drv.mem).alloc(1, free_list=0)
    outcome = ask(drv, 0)
    assert outcome is not None and outcome.startswith("EBUSY: 1 device blocks")
    assert drv.state[0].tolist() == [True, False, False, False]
    assert [r[0] for r in drv.refusals] == [ADDR, ADDR]
    assert f"page {ADDR:#x} " in drv.refusals[0][2]


def test_a_refusal_half_way_through_a_block_keeps_the_pieces_above() -> None:
    drv = driver(coalesce=False)
    ask(drv, 2 * SB)
    ask(drv, 4 * SB)
    PageAllocator(drv.mem).alloc(1, free_list=0)
    outcome = ask(drv, 0)
    assert outcome is not None and "EBUSY" in outcome
    assert drv.state[0].tolist() == [True, False, False, False]


# ----------------------------------------------------------------- the run
SMALL = VirtioMemConfig(boot_mib=160, region_mib=256, lookup_probes=20)


def test_config_validates_the_block_sizes() -> None:
    with pytest.raises(InvalidArgumentError, match="must divide"):
        VirtioMemConfig(block_mib=3)
    with pytest.raises(InvalidArgumentError, match="whole memory blocks"):
        VirtioMemConfig(region_mib=192)


def test_default_schedule_starts_at_half_the_region() -> None:
    schedule = default_schedule(SMALL, 100, seed=5)
    assert schedule.points[0] == (0, 128 << 10)
    assert all(kib % (2 << 10) == 0 for _, kib in schedule.points)


def test_run_reaches_its_targets_without_workload() -> None:
    config = VirtioMemConfig(boot_mib=160, region_mib=256, workload=False, lookup_probes=20)
    schedule = StepSchedule(((0, 200 << 10), (3, 6 << 10)))
    result = run_virtio_mem(config, steps=5, seed=1, coalesce=True, schedule=schedule)
    sizes = [(s.target_pages, s.current_pages) for s in result.timeline.samples]
    assert sizes[:3] == [(200 * 256, 200 * 256)] * 3
    assert sizes[3:] == [(6 * 256, 6 * 256)] * 2
    assert result.refusals == [] and result.events == []


def test_run_with_a_workload_meets_busy_blocks() -> None:
    schedule = StepSchedule(((0, 256 << 10), (6, 0)))
    result = run_virtio_mem(SMALL, steps=8, seed=1, coalesce=False, schedule=schedule)
    last = result.timeline.samples[-1]
    assert last.current_pages > last.target_pages == 0
    assert result.refusals and last.refusals == len(result.refusals)
    assert any(text.startswith("EBUSY") for _, text in result.events)
    assert any("safe unplug refused" in text for _, text in result.events)


def test_run_under_both_policies_requests_the_same_sizes() -> None:
    runs = [
        run_virtio_mem(SMALL, steps=6, seed=4, coalesce=c, schedule=ConstantSchedule(130 << 10))
        for c in (True, False)
    ]
    assert np.array_equal(*(r.timeline.column("target_pages") for r in runs))
