"""Random call sequences, drawn with hypothesis while a scratch model runs them, so that each
call is aimed at the state the calls before it made: unplugs inside, across and at the edges
of live segments, plugs into gaps and onto neighbours, page stealing at boot, lookups of
managed and unmanaged frames, and now and then a call the kernel must refuse.

Shrinking works on the draws: a smaller sequence is replayed against a fresh scratch model,
and a draw aimed at a segment that no longer exists simply names another one.
"""

from __future__ import annotations

from typing import Final

from hypothesis import strategies as st

from physseg.conformance.calls import Call
from physseg.conformance.config import NFREELIST, PAGE_SHIFT, Config
from physseg.conformance.model import ABORTS, ModelMachine
from physseg.conformance.observe import Observer

PFN_LIMIT: Final = 96
"""Frames a sequence works in, ``[0, PFN_LIMIT)``: small, so that calls collide."""
MAX_SEGMENT: Final = 8
"""Pages of a segment a draw makes at most."""
BOOT_CALLS: Final = 7
"""Boot calls after the first ``physload`` at most (each further one drawn with odds 3:1)."""
RUN_CALLS: Final = 9
"""Run-time calls at most (each further one drawn with odds 4:1)."""


def _spans(observer: Observer) -> list[tuple[int, int, int, int]]:
    """``(start, end, avail_start, avail_end)`` of the live segments in walk order."""
    m = observer.machine
    handles, _ = observer.walk()
    return [
        (m.field("start", h), m.field("end", h), m.field("avail_start", h), m.field("avail_end", h))
        for h in handles
    ]


def _gap_start(data: st.DataObject, spans: list[tuple[int, int, int, int]]) -> int:
    """A frame no live segment holds (or any frame, when there is none left)."""
    used = {pfn for start, end, _, _ in spans for pfn in range(start, min(end, PFN_LIMIT))}
    free = [pfn for pfn in range(PFN_LIMIT) if pfn not in used]
    if not free:
        return data.draw(st.integers(0, PFN_LIMIT - 1))
    return data.draw(st.sampled_from(free))


def _range(data: st.DataObject, spans: list[tuple[int, int, int, int]]) -> tuple[int, int]:
    """``(pfn, pages)`` for unplug: mostly inside a live segment (whole, front, back, middle),
    sometimes across its end or anywhere."""
    shape = data.draw(st.sampled_from(("whole", "front", "back", "middle", "across", "any")))
    if not spans or shape == "any":
        return data.draw(st.integers(0, PFN_LIMIT)), data.draw(st.integers(0, MAX_SEGMENT))
    start, end, _, _ = spans[data.draw(st.integers(0, len(spans) - 1))]
    size = max(end - start, 1)
    if shape == "whole":
        return start, end - start
    if shape == "front":
        return start, data.draw(st.integers(1, size))
    if shape == "back":
        pages = data.draw(st.integers(1, size))
        return end - pages, pages
    if shape == "middle":
        pfn = data.draw(st.integers(start, end))
        return pfn, data.draw(st.integers(0, max(end - pfn, 0)))
    pfn = data.draw(st.integers(start, end))
    return pfn, end - pfn + data.draw(st.integers(1, 4))


def _physload(data: st.DataObject, spans: list[tuple[int, int, int, int]]) -> Call:
    start = _gap_start(data, spans)
    end = start + data.draw(st.integers(1, MAX_SEGMENT))
    if data.draw(st.integers(0, 9)) < 7:
        avail_start, avail_end = start, end
    else:
        avail_start = data.draw(st.integers(start, end))
        avail_end = data.draw(st.integers(avail_start, end))
    free_list = data.draw(st.sampled_from((0, 0, 1, 2, 3, NFREELIST)))
    return Call("physload", (start, end, avail_start, avail_end, free_list))


def _plug(
    data: st.DataObject, spans: list[tuple[int, int, int, int]], npages: int, freed: list[int]
) -> Call:
    """A plug into a gap (or onto a neighbour, or over a segment); its size is small, or the
    size of an earlier run-time unplug (whose vm_pages it can scavenge), or around
    ``uvmexp.npages``, where a brand-new slab's loop starts (quirks 10 and 38)."""
    if spans and data.draw(st.integers(0, 4)) == 0:
        start, end, _, _ = spans[data.draw(st.integers(0, len(spans) - 1))]
        pfn = data.draw(st.sampled_from((end, max(start - 1, 0), start)))
    else:
        pfn = _gap_start(data, spans)
    size = data.draw(st.sampled_from(("small", "freed", "npages")))
    if size == "freed" and freed:
        pages = data.draw(st.sampled_from(freed))
    elif size == "npages" and 0 < npages <= 4 * MAX_SEGMENT:
        pages = npages + data.draw(st.integers(-1, 1))
    else:
        pages = data.draw(st.integers(1, MAX_SEGMENT))
    return Call("plug", (pfn, max(pages, 1)))


def _segment_call(data: st.DataObject, name: str, spans: list[tuple[int, int, int, int]]) -> Call:
    k = data.draw(st.integers(0, len(spans)))
    if name == "set_start_hint":
        return Call(name, (k, data.draw(st.integers(0, 1 << 20))))
    return Call(name, (k, data.draw(st.sampled_from((0, 0, 1, 2, 3)))))


def _lookup(data: st.DataObject, name: str, spans: list[tuple[int, int, int, int]]) -> Call:
    aimed = bool(spans) and data.draw(st.booleans())
    if aimed:
        start, end, _, _ = spans[data.draw(st.integers(0, len(spans) - 1))]
        pfn = data.draw(st.integers(max(start - 1, 0), end))
    else:
        pfn = data.draw(st.integers(0, PFN_LIMIT))
    if name == "find":
        return Call("find", (pfn,))
    offset = data.draw(st.sampled_from((0, 1, (1 << PAGE_SHIFT) - 1)))
    return Call("phys_to_vm_page", ((pfn << PAGE_SHIFT) + offset,))


_BOOT: Final = (
    "physload",
    "physload",
    "physload",
    "unplug",
    "physunload",
    "physunload_force",
    "physget",
    "plug",
    "find",
    "set_start_hint",
    "highest_frame",
)
_RUN: Final = (
    "plug",
    "unplug",
    "plug",
    "unplug",
    "find",
    "phys_to_vm_page",
    "set_start_hint",
    "highest_frame",
    "physload",
    "physunload",
    "page_init",
)


def _draw_call(data: st.DataObject, name: str, observer: Observer, freed: list[int]) -> Call:
    spans = _spans(observer)
    if name == "physload":
        return _physload(data, spans)
    if name == "plug":
        return _plug(data, spans, observer.machine.counters()[1], freed)
    if name == "unplug":
        return Call("unplug", _range(data, spans))
    if name in ("physunload", "physunload_force", "set_start_hint"):
        return _segment_call(data, name, spans)
    if name in ("find", "phys_to_vm_page"):
        return _lookup(data, name, spans)
    if name == "page_init":
        needed = sum(end - start for start, end, _, _ in spans)
        extra = data.draw(st.sampled_from((0, 0, 0, 1, 2, 3, 8, 32)))
        return Call("page_init", (needed + extra,))
    return Call(name, ())


def draw_sequence(data: st.DataObject, config: Config) -> list[Call]:
    """A call sequence for ``config``: boot calls (at least one ``physload``), usually the
    boot → run-time switch (``page_init`` sized to fit the segments, plus spare entries
    sometimes), then run-time calls. Drawn against a scratch model, stopping at the first
    call the model aborts on. O(calls · segments)."""
    observer = Observer(ModelMachine(config.kernel()))
    calls: list[Call] = []
    freed: list[int] = []

    def perform(call: Call) -> bool:
        calls.append(call)
        try:
            result = observer.run(call)
        except ABORTS:
            return False
        if call.name == "unplug" and result == (True,) and call.args[1] > 0:
            freed.append(call.args[1])
        return True

    if not perform(_physload(data, [])):
        return calls
    for _ in range(BOOT_CALLS):
        if data.draw(st.integers(0, 3)) == 0:
            break
        if not perform(_draw_call(data, data.draw(st.sampled_from(_BOOT)), observer, freed)):
            return calls
    if data.draw(st.integers(0, 9)) == 0:
        return calls
    if not perform(_draw_call(data, "page_init", observer, freed)):
        return calls
    for _ in range(RUN_CALLS):
        if data.draw(st.integers(0, 4)) == 0:
            break
        if not perform(_draw_call(data, data.draw(st.sampled_from(_RUN)), observer, freed)):
            return calls
    return calls
