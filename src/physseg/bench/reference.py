"""What the C figures of a benchmark run are, where and when they were measured, and the
per-call target.

The C figures are measured live, in the same run as physseg's (see :mod:`physseg.bench.ccompare`):
a :class:`CReference` names which C was timed (NetBSD's ``uvm_physseg.c`` built here, or
physseg's own C implementation of the conformance ABI), on which machine and on which day, or
why no C was measured. Every table, report and figure that shows a C figure prints its
:meth:`CReference.caption`.
"""

from __future__ import annotations

import datetime
import os
import platform
from dataclasses import dataclass
from typing import Final

__all__ = ["PER_CALL_FACTOR", "CReference", "this_machine"]

PER_CALL_FACTOR: Final = 10.0
"""The per-call target: within this factor of C."""


def this_machine() -> str:
    """The host a live C figure is measured on: name, architecture and CPU count
    (``buildhost, x86_64, 2 CPUs``). O(1). Raises nothing."""
    name = platform.node() or "this host"
    return f"{name}, {platform.machine() or 'unknown architecture'}, {os.cpu_count()} CPUs"


@dataclass(frozen=True, slots=True)
class CReference:
    """The provenance of a run's C figures: ``what`` C was timed, on which ``machine``, on
    which ``date`` (ISO, UTC), with which ``compiler``; or ``reason`` why none was (then
    ``what`` is empty).

    >>> ref = CReference("NetBSD C rev 1.9", "h, x86_64, 2 CPUs", "2026-12-07", "gcc -O2")
    >>> ref.caption()
    'NetBSD C rev 1.9; measured live in this run on h, x86_64, 2 CPUs, 2026-12-07'
    >>> CReference.not_measured("no C compiler").caption()
    'C not measured: no C compiler'
    """

    what: str
    machine: str
    date: str
    compiler: str = ""
    reason: str | None = None

    @classmethod
    def live(cls, what: str, compiler: str) -> CReference:
        """The provenance of C figures measured now, on this machine. O(1). Raises nothing."""
        today = datetime.datetime.now(datetime.UTC).date().isoformat()
        return cls(what, this_machine(), today, compiler)

    @classmethod
    def not_measured(cls, reason: str) -> CReference:
        """No C figure in this run, because of ``reason`` (one line). O(1). Raises nothing."""
        return cls("", this_machine(), "", "", reason)

    @property
    def measured(self) -> bool:
        """Whether C was measured in this run. O(1)."""
        return self.reason is None

    def caption(self) -> str:
        """One line naming the C figures' origin, for tables, reports and plots; ``C not
        measured: <reason>`` when there are none. O(1). Raises nothing."""
        if self.reason is not None:
            return f"C not measured: {self.reason}"
        return f"{self.what}; measured live in this run on {self.machine}, {self.date}"

    def as_dict(self) -> dict[str, object]:
        """The provenance as JSON-ready values. O(1). Raises nothing."""
        return {
            "measured": self.measured,
            "what": self.what,
            "machine": self.machine,
            "date": self.date,
            "compiler": self.compiler,
            "reason": self.reason,
            "caption": self.caption(),
        }
