"""The C reference figures the benchmark holds physseg against, and the per-call target.

The figures are the issue's measurements of NetBSD's own code built in userspace on a 2-core
machine, addresses generated in advance: one ``PHYS_TO_VM_PAGE`` takes about 26 ns (rbtree)
and 23 ns (static bsearch) with 32 segments, about 110 ns with 8161 fragmented ones. Both the
report (targets, JSON, Markdown) and the figures (the C reference points) read them from here.
"""

from __future__ import annotations

from typing import Final

__all__ = ["C_NS", "PER_CALL_FACTOR"]

C_NS: Final = {("rbtree", 32): 26.0, ("static", 32): 23.0, ("rbtree", 8161): 110.0}
"""C nanoseconds per ``PHYS_TO_VM_PAGE`` by (backend, segments)."""
PER_CALL_FACTOR: Final = 10.0
"""The per-call target: within this factor of C."""
