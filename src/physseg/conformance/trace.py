"""What one side did with one call sequence: each completed call's result and the state after
it, and how the sequence ended (all calls done, or an abort at some call)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from physseg.conformance.observe import Result, State

ABORT_KINDS: Final = ("panic", "kassert", "hang", "signal", "exit")
"""``panic``/``kassert``: the kernel stopped; ``hang``: the call never returned (time limit,
or the implementation said so); ``signal``: the process died of a signal (``SIGSEGV``...);
``exit``: it ended without finishing the sequence."""


@dataclass(frozen=True, slots=True)
class Abort:
    """The sequence stopped at call ``step`` (0-based): ``kind`` (one of :data:`ABORT_KINDS`)
    and the implementation's ``message``."""

    step: int
    kind: str
    message: str


@dataclass(slots=True)
class Trace:
    """``steps[i]`` is ``(result, state)`` of call ``i``; ``abort`` is how it stopped early."""

    steps: list[tuple[Result, State]] = field(default_factory=list)
    abort: Abort | None = None
