"""The simulated Xen balloon: watcher, thread, inflate, deflate with one-page hot-plugs, reclaim."""

from __future__ import annotations

import numpy as np
import pytest

from physseg import InvalidArgumentError, PhysMem
from physseg.core.alloc import SLAB, FailingAllocator
from physseg.pagealloc import PageAllocator
from physseg.simulate import BalloonConfig, ConstantSchedule, Hypervisor, XenBalloon, run_balloon
from physseg.simulate.balloon import (
    BALLOON_BALLAST,
    DEFAULT_FREEMIN,
    boot_layout,
    boot_machine,
    default_schedule,
)

BOOT = 64 * 256  # pages of a 64 MiB machine


def balloon(
    *, coalesce: bool = False, maximum: int = BOOT + 2048, reclaim: bool = True
) -> XenBalloon:
    mem = boot_machine(BOOT, coalesce=coalesce)
    return XenBalloon(mem, PageAllocator(mem), Hypervisor(BOOT, maximum), reclaim=reclaim)


def settle(driver: XenBalloon, steps: int = 50) -> list[str]:
    """Run the thread until it rests; returns its warnings."""
    warnings = []
    for _ in range(steps):
        warning = driver.step()
        if warning:
            warnings.append(warning)
    return warnings


def accounted(driver: XenBalloon) -> bool:
    """Reservation = boot pages + hot-plugged pages still plugged - pages in the balloon."""
    plugged = driver.pa_end - driver.boot_end
    return driver.hypervisor.current == BOOT + plugged - driver.balloon_pages


# ----------------------------------------------------------------- machine and hypervisor
def test_boot_layout_is_a_pc_with_low_memory_and_isa_free_lists() -> None:
    assert boot_layout(BOOT) == [(0x1, 0x9F, 3), (0x100, 0x1000, 3), (0x1000, 0x4062, 1)]
    assert sum(end - start for start, end, _ in boot_layout(BOOT)) == BOOT
    with pytest.raises(InvalidArgumentError, match="too small"):
        boot_layout(4096)


def test_hypervisor_grants_up_to_its_maximum() -> None:
    hv = Hypervisor(100, 120)
    assert hv.increase_reservation(50) == 20
    assert hv.increase_reservation(5) == 0
    hv.decrease_reservation(30)
    assert hv.current == 90
    with pytest.raises(ValueError, match="current"):
        Hypervisor(0, 10)
    with pytest.raises(ValueError, match="current"):
        Hypervisor(11, 10)


# ----------------------------------------------------------------- the watcher
def test_watcher_rounds_kib_up_to_pages() -> None:
    driver = balloon()
    assert driver.watch(BOOT * 4 + 1) is None
    assert driver.target == BOOT + 1


def test_watcher_rejects_bogus_low_and_high_targets() -> None:
    driver = balloon()
    assert driver.min_kib == (DEFAULT_FREEMIN + BALLOON_BALLAST) * 4
    assert "bogus" in str(driver.watch(0))
    assert "below min" in str(driver.watch(driver.min_kib - 4))
    assert "above max" in str(driver.watch((BOOT + 2049) * 4))
    assert driver.target == BOOT


# ----------------------------------------------------------------- the thread
def test_idle_thread_does_nothing() -> None:
    driver = balloon()
    assert driver.step() is None
    assert driver.hypervisor.current == BOOT


def test_each_iteration_moves_at_most_balloon_delta_pages() -> None:
    driver = balloon()
    assert driver.delta == 512
    driver.watch((BOOT - 2000) * 4)
    driver.step()
    assert driver.hypervisor.current == BOOT - 512
    settle(driver)
    assert driver.hypervisor.current == BOOT - 2000 and driver.balloon_pages == 2000
    assert accounted(driver)


def test_deflating_past_boot_hot_plugs_one_page_per_call() -> None:
    driver = balloon()
    boot_segments = len(driver.mem)
    driver.watch((BOOT + 700) * 4)
    settle(driver)
    assert driver.plugs == 700
    assert len(driver.mem) == boot_segments + 700
    assert driver.mem.find(driver.boot_end + 699) is not None
    assert accounted(driver)


def test_with_coalescing_the_hot_plugged_pages_stay_few_segments() -> None:
    driver = balloon(coalesce=True)
    driver.watch((BOOT + 700) * 4)
    settle(driver)
    assert driver.plugs == 700
    assert len(driver.mem) <= 5


def test_deflating_takes_balloon_pages_back_first_lifo() -> None:
    driver = balloon(reclaim=False)
    driver.watch((BOOT - 10) * 4)
    settle(driver)
    ballooned = list(driver.entries)
    driver.watch((BOOT - 4) * 4)
    settle(driver)
    assert driver.entries == ballooned[:4]
    assert driver.plugs == 0
    assert not any(driver.pages.is_busy(p) for p in ballooned[4:])


def test_reclaim_unplugs_free_hot_plugged_pages_from_the_top() -> None:
    driver = balloon()
    driver.watch((BOOT + 100) * 4)
    settle(driver)
    driver.watch((BOOT - 50) * 4)
    settle(driver)
    assert driver.unplugs == 100 and driver.pa_end == driver.boot_end
    assert driver.balloon_pages == 50
    assert accounted(driver)


def test_reclaim_stops_at_a_busy_page_and_balloons_the_rest() -> None:
    driver = balloon()
    driver.watch((BOOT + 100) * 4)
    settle(driver)
    driver.pages.alloc(100, free_list=0)
    driver.watch((BOOT + 40) * 4)
    settle(driver)
    top = driver.boot_end + 99
    assert driver.refusals[0][0] == top
    assert f"page {top:#x}" in driver.refusals[0][1]
    assert driver.unplugs == 0 and driver.balloon_pages == 60
    assert accounted(driver)


def test_without_reclaim_hot_plugged_memory_stays() -> None:
    driver = balloon(reclaim=False)
    driver.watch((BOOT + 100) * 4)
    settle(driver)
    driver.watch((BOOT - 50) * 4)
    settle(driver)
    assert driver.unplugs == 0 and driver.pa_end == driver.boot_end + 100
    assert driver.balloon_pages == 150


def test_falling_short_feeds_the_current_reservation_back_as_target() -> None:
    driver = balloon(reclaim=False)
    driver.pages.alloc(driver.pages.usage().free - 100)
    driver.watch((BOOT - 300) * 4)
    warnings = settle(driver)
    assert len(warnings) == 1
    assert "could not reach target" in warnings[0]
    assert driver.target == driver.hypervisor.current == BOOT - 100


def test_the_hypervisor_maximum_bounds_deflation() -> None:
    driver = balloon(maximum=BOOT + 10)
    driver.target = BOOT + 20
    warnings = settle(driver)
    assert "could not reach target" in warnings[0]
    assert driver.hypervisor.current == BOOT + 10 == driver.target


def test_a_failed_hot_plug_gives_the_page_back() -> None:
    mem = PhysMem(safe_unplug=True, allocator=FailingAllocator(range(1, 10**6), kinds=[SLAB]))
    for start, end, free_list in boot_layout(BOOT):
        mem.load(start, end, free_list=free_list)
    mem.boot(steal=False)
    driver = XenBalloon(mem, PageAllocator(mem), Hypervisor(BOOT, BOOT + 100))
    driver.watch((BOOT + 50) * 4)
    warnings = settle(driver)
    assert "could not reach target" in warnings[0]
    assert driver.hypervisor.current == BOOT and driver.plugs == 0


# ----------------------------------------------------------------- the run
SMALL = BalloonConfig(boot_mib=64, max_mib=72, lookup_probes=50)


def test_config_needs_a_maximum_above_boot() -> None:
    with pytest.raises(InvalidArgumentError, match="below the boot memory"):
        BalloonConfig(boot_mib=64, max_mib=32)


def test_default_schedule_swings_around_the_boot_reservation() -> None:
    schedule = default_schedule(SMALL, 200, seed=3)
    levels = [kib for _, kib in schedule.points]
    assert levels[0] == 64 << 10
    assert all(kib >= 64 << 10 for kib in levels[1::2])
    assert all(kib <= 64 << 10 for kib in levels[2::2])
    assert max(levels) <= 72 << 10


def test_run_reaches_a_constant_target_without_workload() -> None:
    config = BalloonConfig(boot_mib=64, max_mib=72, workload=False, lookup_probes=20)
    result = run_balloon(
        config, steps=12, seed=1, coalesce=True, schedule=ConstantSchedule(70 << 10)
    )
    summary = result.summary(4096)
    assert summary["reached_target"] is True
    assert summary["final_current_mib"] == 70
    assert result.timeline.samples[-1].plugs == 6 * 256
    assert summary["final_segments"] <= 5


def test_runs_under_both_policies_see_the_same_targets() -> None:
    runs = [run_balloon(SMALL, steps=40, seed=7, coalesce=c) for c in (True, False)]
    targets = [r.timeline.column("target_pages") for r in runs]
    assert np.array_equal(targets[0], targets[1])
    assert runs[1].summary(4096)["max_segments"] > runs[0].summary(4096)["max_segments"]
    for run in runs:
        assert len(run.timeline) == 40
        assert all(s.busy_pages > 0 for s in run.timeline.samples)


def test_run_records_rejected_targets_and_refusals_as_events() -> None:
    config = BalloonConfig(boot_mib=64, max_mib=72, lookup_probes=20)
    schedule = ConstantSchedule(1024)
    result = run_balloon(config, steps=2, seed=1, coalesce=False, schedule=schedule)
    assert result.events[0][0] == 0 and "below min" in result.events[0][1]
    assert result.timeline.samples[0].event == result.events[0][1]
    busy = run_balloon(SMALL, steps=80, seed=2, coalesce=True)
    assert busy.refusals, "the workload's pages on hot-plugged memory block the reclaim"
    first = busy.refusals[0]
    assert any(step == first.step and "safe unplug refused" in text for step, text in busy.events)


def test_reclaim_alone_can_meet_a_lower_target() -> None:
    driver = balloon()
    driver.watch((BOOT + 100) * 4)
    settle(driver)
    driver.watch((BOOT + 40) * 4)
    assert driver.step() is None
    assert driver.unplugs == 60 and driver.balloon_pages == 0
    assert accounted(driver)


def test_run_records_the_thread_falling_short() -> None:
    config = BalloonConfig(boot_mib=64, max_mib=64, freemin=0, workload=False, lookup_probes=20)
    schedule = ConstantSchedule(1 << 10)  # more than every free page: the page array is stolen
    result = run_balloon(config, steps=40, seed=1, coalesce=True, schedule=schedule)
    assert [text for _, text in result.events if "could not reach target" in text]
    assert result.summary(4096)["reached_target"] is True
