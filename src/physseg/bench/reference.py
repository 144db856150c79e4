"""The C reference figures the benchmark holds physseg against, where they come from, and the
per-call target.

physseg does not yet measure NetBSD's C code live (that needs a C build of ``uvm_physseg.c``);
until it does, the figures below are *recorded* measurements, and every table, report and figure
that uses them names them through :data:`C_REFERENCE` (:meth:`CReference.caption`): what was
measured, on which machine, when, and the document that gives the details (``docs/benchmarks.md``,
section "The C reference").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = ["C_NS", "C_REFERENCE", "PER_CALL_FACTOR", "CReference"]


@dataclass(frozen=True, slots=True)
class CReference:
    """Recorded nanoseconds per ``PHYS_TO_VM_PAGE`` of a C implementation, with provenance.

    ``ns`` maps (backend, segments) to nanoseconds per call; ``what`` names the code,
    ``machine`` and ``date`` where and when it was measured, ``source`` the repository file (and
    section) that documents the measurement.

    >>> CReference("C", "a laptop", "2026-01-01", "docs/x.md", {("rbtree", 32): 1.0}).caption()
    'C, measured on a laptop, 2026-01-01 (docs/x.md)'
    """

    what: str
    machine: str
    date: str
    source: str
    ns: dict[tuple[str, int], float] = field(default_factory=dict)

    def caption(self) -> str:
        """One line naming the figures' origin, for tables, reports and plots. O(1)."""
        return f"{self.what}, measured on {self.machine}, {self.date} ({self.source})"

    def as_dict(self) -> dict[str, object]:
        """The provenance and figures as JSON-ready values (keys ``backend/segments``). O(k)
        for k figures."""
        return {
            "what": self.what,
            "machine": self.machine,
            "date": self.date,
            "source": self.source,
            "ns": {f"{backend}/{segments}": ns for (backend, segments), ns in self.ns.items()},
        }


C_REFERENCE: Final = CReference(
    what="NetBSD C (uvm_physseg.c in userspace, addresses generated in advance)",
    machine="a 2-core shared x86-64 Linux host of this project's CI kind",
    date="2026-11-30",
    source="docs/benchmarks.md, The C reference",
    ns={("rbtree", 32): 26.0, ("static", 32): 23.0, ("rbtree", 8161): 110.0},
)
"""The recorded C figures and their provenance."""
C_NS: Final = C_REFERENCE.ns
"""C nanoseconds per ``PHYS_TO_VM_PAGE`` by (backend, segments)."""
PER_CALL_FACTOR: Final = 10.0
"""The per-call target: within this factor of C."""
