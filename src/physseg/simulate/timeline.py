"""Timeline recording for the driver simulations: one sample per time step, measured live.

A :class:`Sample` is what a step leaves behind (target and current size, managed, free and busy
pages, segment count, the cost of one lookup measured on the live state, cumulative call and
refusal counts, and what happened). A :class:`SimResult` is one run: its configuration, its
:class:`Timeline`, the safe-unplug refusals and the events, with a :meth:`SimResult.summary`.
"""

from __future__ import annotations

import csv
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.netbsd import Kernel
from physseg.pagealloc import PageUsage
from physseg.physmem import PhysMem

LOOKUP_PROBES: Final = 1000
"""Lookups timed per sample. 1000 random PFNs take about a millisecond at 1 µs a lookup, and
their mean is stable to a few percent between samples on an idle machine."""
LOOKUP_REPEATS: Final = 3
"""Times the same probes are timed; the minimum is kept, which filters out scheduler noise."""


@dataclass(slots=True)
class Sample:
    """The state after one time step. Sizes are in pages; ``target_pages``/``current_pages``
    are the balloon's target and current reservation, or virtio-mem's requested and plugged
    size; ``lookup_ns`` is the mean cost of one ``uvm_physseg_find`` on a random managed page;
    ``plugs``, ``unplugs`` and ``refusals`` count calls and safe-unplug refusals so far."""

    step: int
    target_pages: int
    current_pages: int
    managed_pages: int
    free_pages: int
    busy_pages: int
    segments: int
    lookup_ns: float
    plugs: int
    unplugs: int
    refusals: int
    event: str


SAMPLE_FIELDS: Final = tuple(f.name for f in fields(Sample))


@dataclass(frozen=True, slots=True)
class Refusal:
    """One unplug the safe mode refused: when, which range, and the error's message (which
    names the first busy page)."""

    step: int
    pfn: int
    npages: int
    message: str


class Timeline:
    """The samples of one run, in step order."""

    __slots__ = ("samples",)

    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def append(self, sample: Sample) -> None:
        """Add the next sample. O(1)."""
        self.samples.append(sample)

    def __len__(self) -> int:
        return len(self.samples)

    def column(self, name: str) -> npt.NDArray[np.float64]:
        """One numeric column as a float array; ``KeyError`` for an unknown or text column."""
        if name not in SAMPLE_FIELDS or name == "event":
            raise KeyError(f"no numeric column {name!r}")
        return np.array([getattr(s, name) for s in self.samples], dtype=np.float64)

    def write_csv(self, path: Path) -> None:
        """Write one row per sample with a header of :data:`SAMPLE_FIELDS`."""
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(SAMPLE_FIELDS)
            for sample in self.samples:
                writer.writerow(getattr(sample, name) for name in SAMPLE_FIELDS)

    def records(self) -> list[dict[str, object]]:
        """The samples as dictionaries (for JSON)."""
        return [asdict(sample) for sample in self.samples]


def managed_pages(mem: PhysMem) -> int:
    """Pages in the spans of all segments. O(n)."""
    return sum(seg.npages for seg in mem)


class LookupProbe:
    """Times ``uvm_physseg_find`` on random managed PFNs, weighted by pages (so every managed
    page is equally likely, as the addresses ``PHYS_TO_VM_PAGE`` sees under uniform use)."""

    __slots__ = ("probes", "repeats", "rng")

    def __init__(
        self,
        rng: np.random.Generator,
        probes: int = LOOKUP_PROBES,
        repeats: int = LOOKUP_REPEATS,
    ) -> None:
        self.rng = rng
        self.probes = probes
        self.repeats = repeats

    def measure(self, kernel: Kernel) -> float:
        """Mean nanoseconds per lookup (the minimum over :attr:`repeats` timings of the same
        :attr:`probes` PFNs); 0.0 when nothing is managed or ``probes`` is 0. O(n + probes
        log n)."""
        segs = kernel.segment_infos()
        starts = np.fromiter((s.start for s in segs), dtype=np.int64, count=len(segs))
        sizes = np.fromiter((s.end - s.start for s in segs), dtype=np.int64, count=len(segs))
        total = int(sizes.sum())
        if total == 0 or self.probes == 0:
            return 0.0
        offsets = self.rng.integers(0, total, size=self.probes)
        ends = np.cumsum(sizes)
        which = np.searchsorted(ends, offsets, side="right")
        pfns = (starts[which] + offsets - (ends[which] - sizes[which])).tolist()
        find = kernel.uvm_physseg_find
        best = float("inf")
        for _ in range(self.repeats):
            began = time.perf_counter_ns()
            for pfn in pfns:
                find(pfn)
            best = min(best, time.perf_counter_ns() - began)
        return best / len(pfns)


@dataclass(slots=True)
class SimResult:
    """One simulation run. ``policy`` is ``"coalesce"`` or ``"plain"``; ``config`` holds the
    parameters that produced it (JSON-ready); ``events`` are ``(step, text)`` pairs."""

    driver: str
    policy: str
    seed: int
    config: dict[str, object]
    timeline: Timeline = field(default_factory=Timeline)
    refusals: list[Refusal] = field(default_factory=list)
    events: list[tuple[int, str]] = field(default_factory=list)
    wall_seconds: float = 0.0

    def record(
        self,
        step: int,
        notes: list[str],
        mem: PhysMem,
        usage: PageUsage,
        probe: LookupProbe,
        *,
        target_pages: int,
        current_pages: int,
        plugs: int,
        unplugs: int,
    ) -> None:
        """Append step ``step``'s events and its timeline sample, measuring the lookup cost on
        the live state. O(n + probes log n)."""
        for note in notes:
            self.events.append((step, note))
        self.timeline.append(
            Sample(
                step=step,
                target_pages=target_pages,
                current_pages=current_pages,
                managed_pages=managed_pages(mem),
                free_pages=usage.free,
                busy_pages=usage.busy,
                segments=len(mem),
                lookup_ns=probe.measure(mem.kernel),
                plugs=plugs,
                unplugs=unplugs,
                refusals=len(self.refusals),
                event="; ".join(notes),
            )
        )

    def summary(self, page_size: int) -> dict[str, object]:
        """Headline figures of the run (sizes in MiB, lookup in ns). Raises ``ValueError`` when
        the timeline is empty."""
        if not self.timeline.samples:
            raise ValueError(f"{self.driver}/{self.policy}: empty timeline")
        last = self.timeline.samples[-1]
        mib = page_size / (1 << 20)
        segments = self.timeline.column("segments")
        lookup = self.timeline.column("lookup_ns")
        refused_pages = {r.pfn for r in self.refusals}
        return {
            "driver": self.driver,
            "policy": self.policy,
            "steps": len(self.timeline),
            "final_target_mib": round(last.target_pages * mib, 3),
            "final_current_mib": round(last.current_pages * mib, 3),
            "reached_target": last.target_pages == last.current_pages,
            "final_segments": last.segments,
            "max_segments": int(segments.max()),
            "mean_lookup_ns": round(float(lookup.mean()), 1),
            "final_lookup_ns": round(last.lookup_ns, 1),
            "max_lookup_ns": round(float(lookup.max()), 1),
            "plug_calls": last.plugs,
            "unplug_calls": last.unplugs,
            "refusals": len(self.refusals),
            "refused_ranges": len(refused_pages),
            "last_event": self.events[-1][1] if self.events else "",
            "wall_seconds": round(self.wall_seconds, 2),
        }
