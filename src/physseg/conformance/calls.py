"""The calls a conformance sequence is made of: uvm_physseg's operations as data, so that one
sequence can drive the model and a C implementation alike, be shrunk, printed and turned into a
C reproduction.

A call that names a segment (``physunload``, ``set_start_hint``...) names it by position: the
``k``-th segment met walking ``get_first``/``get_next`` while ``valid_p`` holds, resolved by
each side in its own state. Handles are never carried from one call to another, so no call can
use a handle the implementation has since freed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

SIGNATURES: Final[dict[str, tuple[str, ...]]] = {
    "physload": ("start", "end", "avail_start", "avail_end", "free_list"),
    "plug": ("pfn", "pages"),
    "unplug": ("pfn", "pages"),
    "physunload": ("segment", "free_list"),
    "physunload_force": ("segment", "free_list"),
    "physget": (),
    "page_init": ("pagecount",),
    "find": ("pfn",),
    "phys_to_vm_page": ("pa",),
    "set_start_hint": ("segment", "hint"),
    "highest_frame": (),
}
"""Each call's name and the names of its integer arguments (PFNs, pages, byte addresses,
free lists, segment positions)."""

SEGMENT_CALLS: Final = frozenset(
    name for name, params in SIGNATURES.items() if params and params[0] == "segment"
)
"""The calls whose first argument is a segment position."""


@dataclass(frozen=True, slots=True)
class Call:
    """One operation: ``name`` (a key of :data:`SIGNATURES`) and its integer ``args``."""

    name: str
    args: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        params = SIGNATURES.get(self.name)
        if params is None:
            raise ValueError(f"unknown call {self.name!r}: expected one of {sorted(SIGNATURES)}")
        if len(self.args) != len(params) or not all(
            isinstance(a, int) and not isinstance(a, bool) for a in self.args
        ):
            raise ValueError(f"{self.name} takes the integers ({', '.join(params)})")
        if any(a < 0 for a in self.args):
            raise ValueError(f"{self.name}: arguments are non-negative, not {self.args}")

    def __str__(self) -> str:
        """``plug(pfn=16, pages=4)``. O(args)."""
        params = SIGNATURES[self.name]
        inner = ", ".join(
            f"{p}={a:#x}" if p == "pa" else f"{p}={a}"
            for p, a in zip(params, self.args, strict=True)
        )
        return f"{self.name}({inner})"

    def to_json(self) -> dict[str, object]:
        """``{"call": name, "args": {param: value}}``. O(args)."""
        params = SIGNATURES[self.name]
        return {"call": self.name, "args": dict(zip(params, self.args, strict=True))}

    @classmethod
    def from_json(cls, document: dict[str, object]) -> Call:
        """The call :meth:`to_json` wrote. O(args). Raises ``ValueError`` for a document of
        another form."""
        name = document.get("call")
        args = document.get("args")
        if not isinstance(name, str) or not isinstance(args, dict) or name not in SIGNATURES:
            raise ValueError(f"not a conformance call: {document!r}")
        return cls(name, tuple(args.get(p, -1) for p in SIGNATURES[name]))
