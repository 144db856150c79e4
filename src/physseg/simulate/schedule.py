"""Target schedules: what size the host asks for at each time step, in KiB.

The Xen toolstack writes ``memory/target`` in KiB; a virtio-mem device's requested size is in
bytes and is given here in KiB too. A schedule is any object with ``target_kib(step) -> int``:
:class:`ConstantSchedule`, :class:`StepSchedule` (levels from given steps on, e.g. made by
:func:`random_steps`) or :class:`TraceSchedule` (a recorded value per step, :func:`load_trace`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from physseg.errors import InvalidArgumentError, Reason


class Schedule(Protocol):
    """A target size for every time step."""

    def target_kib(self, step: int) -> int:
        """The target at ``step`` (0-based), in KiB."""
        ...


@dataclass(frozen=True, slots=True)
class ConstantSchedule:
    """The same target at every step."""

    kib: int

    def target_kib(self, step: int) -> int:
        """:attr:`kib`, whatever the step."""
        return self.kib


@dataclass(frozen=True, slots=True)
class StepSchedule:
    """Piecewise constant: ``points`` are ``(first_step, kib)`` pairs in increasing step order,
    the first at step 0; each level holds until the next point. O(log points) a lookup."""

    points: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        steps = [step for step, _ in self.points]
        if not steps or steps[0] != 0 or steps != sorted(set(steps)):
            raise InvalidArgumentError(
                "StepSchedule",
                Reason.BAD_VALUE,
                detail=f"points must start at step 0 and increase, not {self.points!r}",
            )

    def target_kib(self, step: int) -> int:
        """The level of the last point at or before ``step``."""
        at = bisect.bisect_right([s for s, _ in self.points], step) - 1
        return self.points[max(at, 0)][1]


@dataclass(frozen=True, slots=True)
class TraceSchedule:
    """A recorded target per step; past the end the last value holds."""

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise InvalidArgumentError(
                "TraceSchedule", Reason.BAD_VALUE, detail="a trace needs at least one value"
            )

    def target_kib(self, step: int) -> int:
        """``values[step]``, or the last value past the end."""
        return self.values[min(step, len(self.values) - 1)]


def load_trace(path: Path) -> TraceSchedule:
    """Read a trace file: one target in KiB per line, in step order; blank lines and ``#``
    comments are ignored. Raises ``InvalidArgumentError`` naming the line of a bad value, and
    ``OSError`` when the file cannot be read."""
    values = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            value = int(text)
        except ValueError:
            raise InvalidArgumentError(
                f"{path}:{number}", Reason.BAD_VALUE, detail=f"not an integer KiB value: {text!r}"
            ) from None
        if value < 0:
            raise InvalidArgumentError(
                f"{path}:{number}", Reason.BAD_VALUE, detail=f"negative target {value}"
            )
        values.append(value)
    return TraceSchedule(tuple(values))


def random_steps(
    rng: np.random.Generator,
    steps: int,
    levels_kib: tuple[int, int],
    *,
    start_kib: int,
    pivot_kib: int | None = None,
    hold: tuple[int, int] = (15, 35),
    quantum_kib: int = 4,
) -> StepSchedule:
    """A repeatable random staircase: starts at ``start_kib``; every ``hold`` steps (uniform in
    the inclusive range) it moves to a level drawn uniformly, alternately from the upper band
    ``[pivot_kib, high]`` and the lower band ``[low, pivot_kib]`` of ``levels_kib`` (inclusive;
    the pivot defaults to the middle), rounded down to ``quantum_kib``, so that every run both
    grows and shrinks across the pivot. Raises ``InvalidArgumentError`` for bad bounds."""
    low, high = levels_kib
    pivot = (low + high) // 2 if pivot_kib is None else pivot_kib
    if not 0 <= low <= pivot <= high or quantum_kib < 1 or not 1 <= hold[0] <= hold[1]:
        raise InvalidArgumentError(
            "random_steps",
            Reason.BAD_VALUE,
            detail=f"bad levels {levels_kib}, pivot {pivot}, hold {hold} or quantum {quantum_kib}",
        )
    bands = ((pivot, high), (low, pivot))
    points = [(0, start_kib)]
    step = int(rng.integers(hold[0], hold[1] + 1))
    while step < steps:
        lo, hi = bands[len(points) % 2 - 1]
        level = int(rng.integers(lo, hi + 1)) // quantum_kib * quantum_kib
        points.append((step, level))
        step += int(rng.integers(hold[0], hold[1] + 1))
    return StepSchedule(tuple(points))
