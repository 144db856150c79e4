"""Simulated hot-plug drivers on physseg: the Xen balloon and virtio-mem, with timelines.

:func:`run_balloon` and :func:`run_virtio_mem` boot a fresh machine (a :class:`PhysMem` with
safe unplug, and coalescing or not), drive it for a number of time steps from a target schedule
while a seeded workload keeps pages in use, and return a :class:`SimResult` whose timeline
:mod:`physseg.simulate.report` prints, plots and saves. ``physseg simulate`` is the command.
"""

from __future__ import annotations

from physseg.simulate.balloon import BalloonConfig, Hypervisor, XenBalloon, run_balloon
from physseg.simulate.schedule import (
    ConstantSchedule,
    Schedule,
    StepSchedule,
    TraceSchedule,
    load_trace,
    random_steps,
)
from physseg.simulate.timeline import LookupProbe, Refusal, Sample, SimResult, Timeline
from physseg.simulate.virtio_mem import (
    VirtioMemConfig,
    VirtioMemDevice,
    VirtioMemDriver,
    run_virtio_mem,
)
from physseg.simulate.workload import Workload

__all__ = [
    "BalloonConfig",
    "ConstantSchedule",
    "Hypervisor",
    "LookupProbe",
    "Refusal",
    "Sample",
    "Schedule",
    "SimResult",
    "StepSchedule",
    "Timeline",
    "TraceSchedule",
    "VirtioMemConfig",
    "VirtioMemDevice",
    "VirtioMemDriver",
    "Workload",
    "XenBalloon",
    "load_trace",
    "random_steps",
    "run_balloon",
    "run_virtio_mem",
]
