"""One executor for both sides: runs calls on a :class:`Machine` (the model or a C library) and
turns what it sees into plain, comparable values.

Handles and page arrays are implementation-specific (a node pointer, an array index, a Python
record; a heap address or a slab number), so the observer names each by the order in which it
first met it: ``h0, h1...`` and ``slab0, slab1...``. Two implementations that behave alike
produce the same names, whatever their tokens.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Final, Protocol

from physseg.conformance.calls import SEGMENT_CALLS, Call

U64: Final = (1 << 64) - 1
WALK_LIMIT: Final = 512
"""Segments a walk visits at most: more means a ``get_next`` chain that never ends."""
FULL_PAGES_LIMIT: Final = 1 << 16
"""Pages of one segment read entry by entry in a full snapshot at most."""
SEGMENT_FIELDS: Final = ("start", "end", "avail_start", "avail_end", "free_list", "start_hint")

PageState = tuple[Hashable, int, int, bool]
"""A vm_page as ``(slab token, index in the slab, phys_addr, on a free list)``."""
Result = tuple[object, ...]
State = list[tuple[str, object]]


class Machine(Protocol):
    """What the observer needs of an implementation: the ABI's calls on raw handles."""

    def boot(self) -> None: ...
    def physload(
        self, start: int, end: int, avail_start: int, avail_end: int, fl: int
    ) -> object: ...
    def plug(self, pfn: int, pages: int) -> tuple[bool, object]: ...
    def unplug(self, pfn: int, pages: int) -> bool: ...
    def physunload(self, h: object, fl: int, force: bool) -> tuple[bool, int | None]: ...
    def physget(self) -> tuple[bool, int | None]: ...
    def page_init(self, pagecount: int) -> None: ...
    def find(self, pfn: int) -> tuple[object, int | None]: ...
    def phys_to_vm_page(self, pa: int) -> PageState | None: ...
    def valid(self, h: object) -> bool: ...
    def first(self) -> object: ...
    def last(self) -> object: ...
    def next(self, h: object) -> object: ...
    def prev(self, h: object) -> object: ...
    def field(self, name: str, h: object) -> int: ...
    def set_start_hint(self, h: object, hint: int) -> bool: ...
    def page(self, h: object, idx: int) -> PageState | None: ...
    def highest_frame(self) -> int: ...
    def counters(self) -> tuple[int, int, int, bool]: ...
    def handle_key(self, h: object) -> Hashable: ...


class Observer:
    """Runs calls on ``machine`` and renders results and state with canonical names."""

    __slots__ = ("_handles", "_keep", "_slabs", "machine")

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self._handles: dict[Hashable, int] = {}
        self._slabs: dict[Hashable, int] = {}
        self._keep: list[object] = []

    def handle(self, raw: object) -> str:
        """The canonical name of a raw handle: ``h<n>``, ``n`` in order of first sight. O(1)."""
        key = self.machine.handle_key(raw)
        if key not in self._handles:
            self._handles[key] = len(self._handles)
            self._keep.append(raw)
        return f"h{self._handles[key]}"

    def page(self, state: PageState | None) -> tuple[object, ...] | None:
        """A vm_page with its slab named ``slab<n>`` in order of first sight. O(1)."""
        if state is None:
            return None
        slab, index, phys_addr, free = state
        if slab not in self._slabs:
            self._slabs[slab] = len(self._slabs)
        return (f"slab{self._slabs[slab]}", index, phys_addr & U64, bool(free))

    def walk(self) -> tuple[list[object], bool]:
        """The raw handles from ``get_first`` along ``get_next`` while ``valid_p``, and whether
        the walk ended (``False`` after :data:`WALK_LIMIT` segments). O(n)."""
        m = self.machine
        handles: list[object] = []
        h = m.first()
        while m.valid(h):
            if len(handles) == WALK_LIMIT:
                return handles, False
            handles.append(h)
            h = m.next(h)
        return handles, True

    def run(self, call: Call) -> tuple[object, ...]:
        """Perform ``call`` and return its canonical result. Raises what the machine raises."""
        m = self.machine
        a = call.args
        if call.name in SEGMENT_CALLS:
            handles, _ = self.walk()
            if a[0] >= len(handles):
                return ("no such segment", len(handles))
            target = handles[a[0]]
            if call.name == "set_start_hint":
                return (m.set_start_hint(target, a[1]),)
            ok, pa = m.physunload(target, a[1], call.name == "physunload_force")
            return (ok, pa if ok else None)
        if call.name == "physload":
            return (self.handle(m.physload(*a)),)
        if call.name == "plug":
            ok, h = m.plug(*a)
            return (ok, self.handle(h) if ok else None)
        if call.name == "unplug":
            return (m.unplug(*a),)
        if call.name == "physget":
            ok, pa = m.physget()
            return (ok, pa if ok else None)
        if call.name == "page_init":
            m.page_init(a[0])
            return ()
        if call.name == "find":
            h, off = m.find(a[0])
            return (self.handle(h), off if m.valid(h) else None)
        if call.name == "phys_to_vm_page":
            return (self.page(m.phys_to_vm_page(a[0])),)
        return (m.highest_frame() & U64,)

    def state(self, full: bool) -> State:
        """Everything observable, as ``(field, value)`` pairs in a fixed order: the counters,
        the walk forward (each segment's handle, fields and first page), the walk backward
        (handles), and with ``full`` every page of every segment. O(n), plus O(pages) with
        ``full``. Raises what the machine raises."""
        m = self.machine
        entries, npages, physmem, init_done = m.counters()
        state: State = [
            ("entries", entries),
            ("uvmexp.npages", npages),
            ("physmem", physmem & U64),
            ("uvm.page_init_done", bool(init_done)),
        ]
        handles, ended = self.walk()
        state.append(
            ("walk.forward", [self.handle(h) for h in handles] + ([] if ended else ["..."]))
        )
        for i, h in enumerate(handles):
            values = {f: m.field(f, h) & U64 for f in SEGMENT_FIELDS}
            for name, value in values.items():
                state.append((f"segment[{i}].{name}", value))
            state.append((f"segment[{i}].pgs[0]", self.page(m.page(h, 0))))
            if full and m.page(h, 0) is not None:
                npg = min(max(values["end"] - values["start"], 0), FULL_PAGES_LIMIT)
                for idx in range(1, npg):
                    state.append((f"segment[{i}].pgs[{idx}]", self.page(m.page(h, idx))))
        backward: list[str] = []
        h = m.last()
        while m.valid(h) and len(backward) < WALK_LIMIT:
            backward.append(self.handle(h))
            h = m.prev(h)
        state.append(("walk.backward", backward))
        return state
