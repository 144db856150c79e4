"""Engine images: a whole kernel as plain data and a few numpy arrays, and the kernel rebuilt
from them.

An image is DATA, meant to be stored (JSON for :attr:`KernelImage.meta`, raw bytes with an
explicit dtype and shape for :attr:`KernelImage.arrays`) and read back from files a user may
edit or an attacker may craft: nothing in it is pickled or evaluated, and :func:`load_image`
validates every value before it builds anything, bounds every size before it allocates, then
runs :meth:`Kernel.check` on the result. Anything wrong raises
:class:`physseg.errors.ImageError`, naming the part of the image and why.

Layout (:data:`IMAGE_FORMAT` 1)
-------------------------------
``meta`` (str keys; values str, int, bool, None, lists and dicts)::

    format    1
    config    {backend, physseg_max, strategy, nfreelist, page_shift}
    counters  {npages, physmem, page_init_done, slab_ids, stolen: [[pa, pages], ...]}
    build     the build's counters: rbtree {nseg, nentries}, static {n}
    slabs     [{ident, name, npages, runs: {phys_addr, free_list, flags}}, ...]  ascending ident
    extents   [{slab: ident, boot, members, extent: Extent.to_plain()}, ...]
    records   [{start, end, avail_start, avail_end, free_list, start_hint, dummy_variable,
                pgs: [slab ident, index] | None, ext: index in extents | None, pool_slot}, ...]

``records`` are what the build owns and a caller can reach: the rbtree build's live records in
address order (``pool_slot`` is the boot pool slot, -1 for a run-time record), the static
build's array up to its last slot that is not pristine (``n`` of them used, the rest stale
copies a removal left, readable through an index; ``pool_slot`` -1). ``slabs`` and ``extents``
are those the records reference. The scavenging index, the extents' gap indexes and the tree
are derived on load; ``members`` is checked against the recount, the lookup memo and table
start empty.

``arrays``: every slab's three ``vm_page`` columns, run-length encoded, the slabs' runs one
after the other in ``meta.slabs`` order (``runs`` says how many each slab has)::

    phys_addr_first  uint64  first phys_addr of the run
    phys_addr_count  int64   entries in the run
    phys_addr_step   uint8   1: each entry is the previous one + the page size, 0: constant
    free_list_value  int8    free_list_count  int64
    flags_value      uint8   flags_count      int64

A booted machine's page array is one ascending run per segment plus the never-initialised
entries (zero), so a 1 TiB machine's image takes a few kilobytes; encoding and decoding are
vectorised and work :data:`_CHUNK` entries at a time, so their temporaries stay bounded
whatever the slab size.

>>> from physseg.netbsd import make_kernel
>>> kernel = make_kernel(physseg_max=4)
>>> _ = kernel.uvm_page_physload(0x100, 0x200, 0x100, 0x200, 0)
>>> kernel.uvm_page_init()
>>> image = save_image(kernel)
>>> sorted(image.meta), image.arrays["phys_addr_count"].tolist()
(['build', 'config', 'counters', 'extents', 'format', 'records', 'slabs'], [248, 1])
>>> restored = load_image(image)
>>> [(i.start, i.end) for i in restored.segment_infos()] == [(0x108, 0x200)]
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from physseg.core.alloc import Allocator
from physseg.core.extent import Extent
from physseg.core.lazycolumn import Column, LazyColumn, column_fill
from physseg.core.pages import Page, Slab
from physseg.errors import ImageError
from physseg.netbsd.constants import STRATEGIES
from physseg.netbsd.kernel import Kernel, build_class
from physseg.netbsd.segment import Segment, SlabExtent

IMAGE_FORMAT: Final = 1
"""The layout version an image carries in ``meta["format"]``; bump it when the layout changes
(:func:`load_image` refuses any other)."""

MAX_PHYSSEG: Final = 1 << 20
"""The largest ``VM_PHYSSEG_MAX`` an image may ask for. The rbtree build makes that many boot
pool records on load (about 200 bytes each), so this caps a hostile image at a few hundred MB;
NetBSD's ports use 16 to 64."""
MAX_NFREELIST: Final = 128
"""The largest ``VM_NFREELIST``: a page's ``free_list`` is an int8 column."""
_LAZY_RUN: Final = 64
"""Runs shorter than this are decoded into a lazy slab's chunks rather than kept as runs: a
run costs ~32 bytes and a Python step, an entry 1 to 8 bytes, so short runs are cheaper
held."""
MAX_IMAGE_PAGES: Final = 1 << 30
"""The most ``vm_page`` entries all the slabs of one image may hold together: 10 GiB of page
records, a 4 TiB machine of 4 KiB pages (the shipped ``server-1t`` map needs 2**28). Checked
before any slab is allocated."""
_U64: Final = 1 << 64
"""PFNs, byte addresses and ``u_long`` fields lie in ``[0, 2**64)``."""
_I64: Final = 1 << 63
"""Counters (``int``/``long`` in C) lie in ``[-2**63, 2**63)``."""
_CHUNK: Final = 1 << 20
"""Entries encoded or decoded per vectorised step: temporaries stay a few of these (8 MiB
each) whatever the slab's size. Larger is marginally faster and costs memory."""

ARRAYS: Final[dict[str, np.dtype[Any]]] = {
    "phys_addr_first": np.dtype(np.uint64),
    "phys_addr_count": np.dtype(np.int64),
    "phys_addr_step": np.dtype(np.uint8),
    "free_list_value": np.dtype(np.int8),
    "free_list_count": np.dtype(np.int64),
    "flags_value": np.dtype(np.uint8),
    "flags_count": np.dtype(np.int64),
}
"""Every array of an image and its dtype (1-D, native byte order)."""
_COLUMNS: Final = {
    "phys_addr": ("phys_addr_first", "phys_addr_count", "phys_addr_step"),
    "free_list": ("free_list_value", "free_list_count"),
    "flags": ("flags_value", "flags_count"),
}
"""The arrays of each ``vm_page`` column; the runs of one column line up across them."""

_META_KEYS: Final = ("format", "config", "counters", "build", "slabs", "extents", "records")
_CONFIG_KEYS: Final = ("backend", "physseg_max", "strategy", "nfreelist", "page_shift")
_COUNTER_KEYS: Final = ("npages", "physmem", "page_init_done", "slab_ids", "stolen")
_SLAB_KEYS: Final = ("ident", "name", "npages", "runs")
_EXTENT_KEYS: Final = ("slab", "boot", "members", "extent")
_RECORD_KEYS: Final = (
    "start",
    "end",
    "avail_start",
    "avail_end",
    "free_list",
    "start_hint",
    "dummy_variable",
    "pgs",
    "ext",
    "pool_slot",
)


@dataclass(frozen=True, eq=False)
class KernelImage:
    """A kernel's whole state as data: :attr:`meta` (JSON-able: str, int, bool, None, lists
    and dicts with str keys) and :attr:`arrays` (1-D numpy arrays of the dtypes of
    :data:`ARRAYS`). See the module docstring for the layout. Two images are equal when their
    meta are equal and their arrays hold the same dtypes and values."""

    meta: dict[str, Any]
    arrays: dict[str, np.ndarray[Any, Any]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KernelImage):
            return NotImplemented
        return (
            self.meta == other.meta
            and self.arrays.keys() == other.arrays.keys()
            and all(
                self.arrays[name].dtype == other.arrays[name].dtype
                and np.array_equal(self.arrays[name], other.arrays[name])
                for name in self.arrays
            )
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays (the meta is small: O(segments + regions)). O(1)."""
        return sum(int(array.nbytes) for array in self.arrays.values())


# --------------------------------------------------------------------------------- saving
def save_image(kernel: Kernel) -> KernelImage:
    """The image of ``kernel``: its configuration, counters, the records its build owns, the
    slabs and slab extents they reference. The kernel is not changed. O(n + R + P / chunk)
    Python steps for n records, R extent regions and P page entries (the page columns are
    scanned vectorised, :data:`_CHUNK` entries at a time); the arrays are O(runs).

    Raises ``ImageError`` for a kernel an image cannot describe: two referenced slabs with the
    same ident, sizes past the bounds (:data:`MAX_PHYSSEG`, :data:`MAX_NFREELIST`,
    :data:`MAX_IMAGE_PAGES`). A kernel that fails :meth:`Kernel.check` (one a panic left
    half-way) is saved as it is, and :func:`load_image` refuses its image."""
    if kernel.VM_PHYSSEG_MAX > MAX_PHYSSEG:
        raise ImageError(
            "meta.config.physseg_max",
            f"{kernel.VM_PHYSSEG_MAX} is past the image bound {MAX_PHYSSEG}",
        )
    if kernel.VM_NFREELIST > MAX_NFREELIST:
        raise ImageError("meta.config.nfreelist", f"{kernel.VM_NFREELIST} is past the image bound")
    records, build = kernel._image_records()
    slabs: dict[int, Slab] = {}
    extents: dict[int, tuple[int, SlabExtent]] = {}

    def note_slab(slab: Slab) -> None:
        known = slabs.setdefault(slab.ident, slab)
        if known is not slab:
            raise ImageError("meta.slabs", f"two slabs share ident {slab.ident}")

    plain_records: list[dict[str, Any]] = []
    for seg in records:
        ext_index: int | None = None
        if seg.ext is not None:
            ext_index = extents.setdefault(id(seg.ext), (len(extents), seg.ext))[0]
            note_slab(seg.ext.slab)
        pgs: list[int] | None = None
        if seg.pgs is not None:
            note_slab(seg.pgs.slab)
            pgs = [seg.pgs.slab.ident, seg.pgs.index]
        plain_records.append(
            {
                "start": seg.start,
                "end": seg.end,
                "avail_start": seg.avail_start,
                "avail_end": seg.avail_end,
                "free_list": seg.free_list,
                "start_hint": seg.start_hint,
                "dummy_variable": seg.pmseg.dummy_variable,
                "pgs": pgs,
                "ext": ext_index,
                "pool_slot": seg.pool_slot,
            }
        )
    if sum(slab.npages for slab in slabs.values()) > MAX_IMAGE_PAGES:
        raise ImageError("meta.slabs", f"more than {MAX_IMAGE_PAGES} page entries")
    plain_slabs: list[dict[str, Any]] = []
    columns: dict[str, list[np.ndarray[Any, Any]]] = {name: [] for name in ARRAYS}
    for ident in sorted(slabs):
        slab = slabs[ident]
        encoded = {
            "phys_addr": _encode_progressions(slab.phys_addr, kernel.PAGE_SIZE),
            "free_list": _encode_constant(slab.free_list),
            "flags": _encode_constant(slab.flags),
        }
        for column, names in _COLUMNS.items():
            for name, array in zip(names, encoded[column], strict=True):
                columns[name].append(array)
        plain_slabs.append(
            {
                "ident": slab.ident,
                "name": slab.name,
                "npages": slab.npages,
                "runs": {column: int(runs[0].size) for column, runs in encoded.items()},
            }
        )
    arrays = {
        name: np.concatenate(parts).astype(ARRAYS[name], copy=False)
        if parts
        else np.zeros(0, ARRAYS[name])
        for name, parts in columns.items()
    }
    meta: dict[str, Any] = {
        "format": IMAGE_FORMAT,
        "config": {
            "backend": kernel.backend,
            "physseg_max": kernel.VM_PHYSSEG_MAX,
            "strategy": kernel.strategy,
            "nfreelist": kernel.VM_NFREELIST,
            "page_shift": kernel.PAGE_SHIFT,
        },
        "counters": {
            "npages": kernel.uvmexp.npages,
            "physmem": kernel.physmem,
            "page_init_done": kernel.uvm.page_init_done,
            "slab_ids": kernel._slab_ids,
            "stolen": [[pa, pages] for pa, pages in kernel.stolen],
        },
        "build": dict(build),
        "slabs": plain_slabs,
        "extents": [
            {
                "slab": ext.slab.ident,
                "boot": ext.boot,
                "members": ext.members,
                "extent": ext.extent.to_plain(),
            }
            for _, ext in extents.values()
        ],
        "records": plain_records,
    }
    return KernelImage(meta, arrays)


def _encode_constant(values: Column) -> tuple[npt.NDArray[Any], npt.NDArray[np.int64]]:
    """``values`` as maximal runs of equal entries: ``(value of each run, its length)``.
    O(P) vectorised, :data:`_CHUNK` entries a step; for a lazy column only around its pieces'
    edges and in its chunks (see :func:`_windows`)."""
    starts = _run_starts(
        values.size, lambda lo, hi: _constant_breaks(values, lo, hi), _windows(values, (0,))
    )
    counts = np.diff(np.append(starts, values.size)).astype(np.int64)
    return values[starts], counts


def _constant_breaks(values: Column, lo: int, hi: int) -> npt.NDArray[np.int64]:
    """The entries ``i`` in ``[lo, hi)`` (``lo >= 1``) that differ from entry ``i - 1``."""
    window = values[lo - 1 : hi]
    return np.flatnonzero(window[1:] != window[:-1]).astype(np.int64) + lo


def _encode_progressions(
    values: Column, step: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.int64], npt.NDArray[np.uint8]]:
    """``values`` as runs of two kinds: ascending by ``step`` (the page size; a segment's page
    array) or constant (entries no segment initialised). A maximal chain of entries each
    ``step`` above the one before is one ascending run; the entries outside such chains are
    grouped into constant runs. Returns ``(first value, length, 1 ascending / 0 constant)``
    per run. O(P) vectorised, :data:`_CHUNK` entries a step (a lazy column: see
    :func:`_windows`); arithmetic wraps modulo 2**64 both here and in the decoder."""
    n = values.size
    starts = _run_starts(
        n, lambda lo, hi: _progression_breaks(values, step, lo, hi), _windows(values, (0, step))
    )
    counts = np.diff(np.append(starts, n)).astype(np.int64)
    nexts = values[np.minimum(starts + 1, max(n - 1, 0))]
    firsts = values[starts]
    ascending = (counts >= 2) & (nexts - firsts == np.uint64(step))
    return firsts, counts, ascending.astype(np.uint8)


def _progression_breaks(values: Column, step: int, lo: int, hi: int) -> npt.NDArray[np.int64]:
    """The entries ``i`` in ``[lo, hi)`` (``lo >= 1``) that start a run (see
    :func:`_encode_progressions`): entry ``i`` continues the run of ``i - 1`` when it is
    ``step`` above it, or when it equals it and neither lies in an ascending chain.

    ``up[j]`` says entry ``j + 1`` is ``step`` above entry ``j``; the window holds ``up`` and
    ``same`` for ``j`` in ``[lo - 2, hi]``, False outside the slab."""
    n = values.size
    m = hi - lo
    first = max(lo - 2, 0)
    top = min(hi + 1, n)
    window = values[first:top]
    delta = window[1:] - window[:-1]
    up = np.zeros(m + 3, dtype=bool)
    same = np.zeros(m + 3, dtype=bool)
    up[first - (lo - 2) : top - 1 - (lo - 2)] = delta == np.uint64(step)
    same[first - (lo - 2) : top - 1 - (lo - 2)] = delta == 0
    up_before = up[1 : 1 + m]
    chained_before = up[0:m] | up_before
    chained_here = up_before | up[2 : 2 + m]
    joins = up_before | (~chained_before & ~chained_here & same[1 : 1 + m])
    return np.flatnonzero(~joins).astype(np.int64) + lo


def _run_starts(
    n: int,
    breaks: Callable[[int, int], npt.NDArray[np.int64]],
    windows: list[tuple[int, int]] | None = None,
) -> npt.NDArray[np.int64]:
    """Entry 0 (when there is one) and every break ``breaks(lo, hi)`` finds, a chunk at a
    time: over the whole column, or only over ``windows`` (sorted, disjoint, inside ``[1,
    n)``) when the column says where breaks can be (see :func:`_windows`)."""
    parts = [np.zeros(min(n, 1), dtype=np.int64)]
    for lo, hi in [(1, n)] if windows is None else windows:
        for first in range(lo, hi, _CHUNK):
            parts.append(breaks(first, min(first + _CHUNK, hi)))
    return np.concatenate(parts)


_WINDOW_ENTRIES: Final = 32
"""Entries of a column examined whole in the time one window costs (a window is a Python call
and a few numpy calls, about 3.5 µs; examining a lazy column whole, about 0.15 µs an entry:
a 40,001-segment machine's image took 0.83 s by windows, 0.29 s whole). A column with more
windows than its size over this is examined whole."""


def _windows(values: Column, uniform: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """Where a run can start in a lazy column: whether entry ``i`` starts a run depends only
    on entries ``i - 2 .. i + 1``, so inside a run of the column whose step is one of
    ``uniform`` (a constant, or the page size's ascending run) nothing breaks except within
    two entries of its edges. The windows are those edges plus every materialised chunk and
    every run of another step, sorted, merged, inside ``[1, size)``. None for an eager
    column, or when there are so many windows that examining the whole column is cheaper
    (:data:`_WINDOW_ENTRIES`): examine it all. O(pieces)."""
    if not isinstance(values, LazyColumn):
        return None
    n = values.size
    spans: list[tuple[int, int]] = []
    for a, b, array, _, step in values.pieces(0, n):
        spans.append((a - 2, a + 3))
        if array is not None or step not in uniform:
            spans.append((a, b))
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        lo, hi = max(lo, 1), min(hi, n)
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    if len(merged) * _WINDOW_ENTRIES >= n:
        return None
    return merged


# --------------------------------------------------------------------------------- loading
def load_image(
    image: KernelImage, allocator: Allocator | None = None, *, lazy_pages: bool = True
) -> Kernel:
    """A new kernel in the state ``image`` describes, drawing later allocations from
    ``allocator`` (default a fresh ``Allocator``; nothing is asked of it now), with lazy or
    eager page arrays as ``lazy_pages`` says (see :class:`physseg.netbsd.Kernel`; the image is
    the same either way). Its lookup memo and table start empty. Eager: O(n log n + R log R +
    P) for n records, R extent regions and P page entries (decoded vectorised, then
    :meth:`Kernel.check`); lazy: O(n log n + R log R + runs) for runs of at least
    :data:`_LAZY_RUN` entries, O(entries) for the shorter ones (decoded into chunks).

    Raises ``ImageError`` (``what``: the part of the image; ``reason``) for anything wrong: not
    a :class:`KernelImage`, a format other than :data:`IMAGE_FORMAT`, missing or unknown keys,
    wrong types (a bool where an int belongs, too), values out of range or past the bounds
    (:data:`MAX_PHYSSEG`, :data:`MAX_NFREELIST`, :data:`MAX_IMAGE_PAGES`, checked before
    anything is allocated), arrays of the wrong dtype or shape, runs that do not cover their
    slab exactly, references to slabs or extents that are not there, unreferenced ones,
    member counts that differ from the records, and a rebuilt kernel that fails
    :meth:`Kernel.check` (``what`` is ``"kernel"``); also when the host cannot hold the
    slabs."""
    try:
        return _load(image, allocator, lazy_pages)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError("image", "the host cannot hold what the image describes") from None
    except (KeyError, TypeError, IndexError, ValueError, OverflowError, AttributeError) as exc:
        raise ImageError("image", f"malformed ({type(exc).__name__}: {exc})") from None


def _load(image: KernelImage, allocator: Allocator | None, lazy_pages: bool) -> Kernel:
    if not isinstance(image, KernelImage):
        raise ImageError("image", f"a KernelImage is expected, not {type(image).__name__}")
    meta = image.meta
    if not isinstance(meta, dict):
        raise ImageError("meta", f"a dict is expected, not {type(meta).__name__}")
    if "format" not in meta:
        raise ImageError("meta.format", "missing")
    fmt = _int(meta["format"], "meta.format", 0, _I64 - 1)
    if fmt > IMAGE_FORMAT:
        raise ImageError(
            "meta.format", f"format {fmt} is newer than this physseg reads ({IMAGE_FORMAT})"
        )
    if fmt != IMAGE_FORMAT:
        raise ImageError("meta.format", f"unknown format {fmt} (this physseg reads {IMAGE_FORMAT})")
    _keys(meta, "meta", _META_KEYS)
    build_cls, backend, physseg_max, strategy, nfreelist, page_shift = _config(
        _keys(meta["config"], "meta.config", _CONFIG_KEYS)
    )
    counters = _keys(meta["counters"], "meta.counters", _COUNTER_KEYS)
    slab_ids = _int(counters["slab_ids"], "meta.counters.slab_ids", 0, _I64 - 1)
    npages = _int(counters["npages"], "meta.counters.npages", -_I64, _I64 - 1)
    physmem = _int(counters["physmem"], "meta.counters.physmem", 0, _I64 - 1)
    page_init_done = _bool(counters["page_init_done"], "meta.counters.page_init_done")
    stolen = _stolen(counters["stolen"])
    build_data = _keys(meta["build"], "meta.build", build_cls._IMAGE_BUILD_KEYS)
    build = {
        key: _int(value, f"meta.build.{key}", 0, _I64 - 1) for key, value in build_data.items()
    }
    slab_meta = _slab_meta(meta["slabs"], slab_ids)
    arrays = _arrays(image.arrays, slab_meta)
    extent_meta = _extent_meta(meta["extents"], slab_meta)
    records = [
        _record(item, f"meta.records[{k}]", nfreelist, slab_meta, len(extent_meta))
        for k, item in enumerate(_list(meta["records"], "meta.records"))
    ]
    _check_references(records, slab_meta, extent_meta)
    allocator = Allocator() if allocator is None else allocator
    plain_extents: list[Extent] = []
    for k, (_, _, _, plain) in enumerate(extent_meta):
        try:
            plain_extents.append(Extent.from_plain(plain, allocator))
        except ValueError as exc:
            raise ImageError(f"meta.extents[{k}].extent", str(exc)) from None

    slabs = _build_slabs(slab_meta, arrays, 1 << page_shift, lazy_pages)
    extents = [
        SlabExtent(extent, slabs[ident], boot=boot)
        for extent, (ident, boot, _, _) in zip(plain_extents, extent_meta, strict=True)
    ]
    kernel = build_cls(
        backend, physseg_max, strategy, nfreelist, page_shift, allocator, lazy_pages=lazy_pages
    )
    segments: list[Segment] = []
    for fields in records:
        seg = Segment(pool_slot=fields.pool_slot)
        seg.start, seg.end = fields.start, fields.end
        seg.avail_start, seg.avail_end = fields.avail_start, fields.avail_end
        seg.free_list = fields.free_list
        seg.start_hint = fields.start_hint
        seg.pmseg.dummy_variable = fields.dummy_variable
        seg.pgs = None if fields.pgs is None else Page(slabs[fields.pgs[0]], fields.pgs[1])
        seg.ext = None if fields.ext is None else extents[fields.ext]
        segments.append(seg)

    kernel.uvmexp.npages = npages
    kernel.physmem = physmem
    kernel.uvm.page_init_done = page_init_done
    kernel._slab_ids = slab_ids
    kernel.stolen = stolen
    kernel._adopt_image_records(segments, build)
    for k, (ext, (_, _, members, _)) in enumerate(zip(extents, extent_meta, strict=True)):
        if ext.members != members:
            raise ImageError(
                f"meta.extents[{k}].members",
                f"{members}, but the build counts {ext.members} live segments using it",
            )
    kernel.version += 1
    try:
        kernel.check()
    except AssertionError as exc:
        raise ImageError("kernel", f"the rebuilt kernel breaks an invariant: {exc}") from None
    except Exception as exc:
        raise ImageError(
            "kernel", f"the rebuilt kernel fails its check ({type(exc).__name__}: {exc})"
        ) from None
    return kernel


# ----------------------------------------------------------------- validation helpers
def _int(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImageError(what, f"an int is expected, not {type(value).__name__}")
    if not low <= value <= high:
        raise ImageError(what, f"{value} is outside [{low}, {high}]")
    return value


def _bool(value: object, what: str) -> bool:
    if not isinstance(value, bool):
        raise ImageError(what, f"a bool is expected, not {type(value).__name__}")
    return value


def _str(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ImageError(what, f"a str is expected, not {type(value).__name__}")
    return value


def _list(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ImageError(what, f"a list is expected, not {type(value).__name__}")
    return value


def _keys(value: object, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``value`` as a dict holding exactly ``keys``."""
    if not isinstance(value, dict):
        raise ImageError(what, f"a dict is expected, not {type(value).__name__}")
    for key in keys:
        if key not in value:
            raise ImageError(what, f"missing key {key!r}")
    unknown = sorted(repr(key) for key in value if key not in keys)
    if unknown:
        raise ImageError(what, f"unknown key {unknown[0]}")
    return value


def _config(config: dict[str, Any]) -> tuple[type[Kernel], str, int, str, int, int]:
    """``(build class, backend, physseg_max, strategy, nfreelist, page_shift)``, validated and
    bounded before anything is built."""
    backend = _str(config["backend"], "meta.config.backend")
    try:
        build = build_class(backend)
    except ValueError as exc:
        raise ImageError("meta.config.backend", str(exc)) from None
    strategy = _str(config["strategy"], "meta.config.strategy")
    if strategy not in STRATEGIES:
        raise ImageError("meta.config.strategy", f"unknown strategy {strategy!r}")
    physseg_max = _int(config["physseg_max"], "meta.config.physseg_max", 1, MAX_PHYSSEG)
    nfreelist = _int(config["nfreelist"], "meta.config.nfreelist", 1, MAX_NFREELIST)
    page_shift = _int(config["page_shift"], "meta.config.page_shift", 9, 30)
    return build, backend, physseg_max, strategy, nfreelist, page_shift


@dataclass(frozen=True, slots=True)
class _SlabMeta:
    ident: int
    name: str
    npages: int
    runs: dict[str, int]


def _slab_meta(value: object, slab_ids: int) -> dict[int, _SlabMeta]:
    """The slabs' descriptions by ident, validated and bounded (nothing allocated yet)."""
    slabs: dict[int, _SlabMeta] = {}
    total = 0
    for k, item in enumerate(_list(value, "meta.slabs")):
        what = f"meta.slabs[{k}]"
        data = _keys(item, what, _SLAB_KEYS)
        ident = _int(data["ident"], f"{what}.ident", 0, slab_ids)
        if ident in slabs:
            raise ImageError(f"{what}.ident", f"ident {ident} is used twice")
        if slabs and ident < max(slabs):
            raise ImageError(f"{what}.ident", f"ident {ident} is out of ascending order")
        npages = _int(data["npages"], f"{what}.npages", 0, MAX_IMAGE_PAGES)
        total += npages
        if total > MAX_IMAGE_PAGES:
            raise ImageError(
                f"{what}.npages", f"the slabs hold more than {MAX_IMAGE_PAGES} page entries"
            )
        runs_data = _keys(data["runs"], f"{what}.runs", tuple(_COLUMNS))
        runs = {
            column: _int(count, f"{what}.runs.{column}", 0, npages)
            for column, count in runs_data.items()
        }
        slabs[ident] = _SlabMeta(ident, _str(data["name"], f"{what}.name"), npages, runs)
    return slabs


def _arrays(value: object, slabs: dict[int, _SlabMeta]) -> dict[str, npt.NDArray[Any]]:
    """The arrays, each of its dtype, 1-D and as long as the slabs' runs of its column; every
    slab's runs cover it exactly (lengths at least 1, summing to its size), every step is 0
    or 1."""
    if not isinstance(value, dict):
        raise ImageError("arrays", f"a dict is expected, not {type(value).__name__}")
    for name in ARRAYS:
        if name not in value:
            raise ImageError("arrays", f"missing array {name!r}")
    unknown = sorted(repr(name) for name in value if name not in ARRAYS)
    if unknown:
        raise ImageError("arrays", f"unknown array {unknown[0]}")
    arrays: dict[str, npt.NDArray[Any]] = {}
    for name, dtype in ARRAYS.items():
        array = value[name]
        what = f"arrays.{name}"
        if not isinstance(array, np.ndarray):
            raise ImageError(what, f"a numpy array is expected, not {type(array).__name__}")
        if array.dtype != dtype:
            raise ImageError(what, f"dtype {array.dtype.str} is not {dtype.str}")
        if array.ndim != 1:
            raise ImageError(what, f"shape {array.shape} is not 1-D")
        arrays[name] = np.asarray(array)
    for column, names in _COLUMNS.items():
        expected = sum(slab.runs[column] for slab in slabs.values())
        for name in names:
            if arrays[name].size != expected:
                raise ImageError(
                    f"arrays.{name}",
                    f"{arrays[name].size} runs, the slabs' runs.{column} add up to {expected}",
                )
        counts = arrays[names[1]]
        offset = 0
        for slab in slabs.values():
            runs = counts[offset : offset + slab.runs[column]]
            if runs.size and (int(runs.min()) < 1 or int(runs.max()) > slab.npages):
                raise ImageError(
                    f"arrays.{names[1]}",
                    f"slab {slab.ident}: a run length is outside [1, {slab.npages}]",
                )
            covered = int(runs.sum())
            if covered != slab.npages:
                raise ImageError(
                    f"arrays.{names[1]}",
                    f"slab {slab.ident}: the {column} runs cover {covered} entries, not"
                    f" {slab.npages}",
                )
            offset += slab.runs[column]
    steps = arrays["phys_addr_step"]
    if steps.size and int(steps.max()) > 1:
        raise ImageError("arrays.phys_addr_step", "a step kind is neither 0 nor 1")
    return arrays


def _extent_meta(
    value: object, slabs: dict[int, _SlabMeta]
) -> list[tuple[int, bool, int, dict[str, Any]]]:
    """``(slab ident, boot, members, plain extent)`` per extent; the extent itself is checked
    by ``Extent.from_plain``."""
    extents: list[tuple[int, bool, int, dict[str, Any]]] = []
    for k, item in enumerate(_list(value, "meta.extents")):
        what = f"meta.extents[{k}]"
        data = _keys(item, what, _EXTENT_KEYS)
        ident = _int(data["slab"], f"{what}.slab", 0, _I64 - 1)
        if ident not in slabs:
            raise ImageError(f"{what}.slab", f"no slab has ident {ident}")
        boot = _bool(data["boot"], f"{what}.boot")
        members = _int(data["members"], f"{what}.members", 0, _I64 - 1)
        extents.append((ident, boot, members, data["extent"]))
    return extents


@dataclass(frozen=True, slots=True)
class _Record:
    start: int
    end: int
    avail_start: int
    avail_end: int
    free_list: int
    start_hint: int
    dummy_variable: int | bool
    pgs: tuple[int, int] | None
    ext: int | None
    pool_slot: int


def _record(
    value: object, what: str, nfreelist: int, slabs: dict[int, _SlabMeta], nextents: int
) -> _Record:
    data = _keys(value, what, _RECORD_KEYS)
    pfns = [_int(data[key], f"{what}.{key}", 0, _U64 - 1) for key in _RECORD_KEYS[:4]]
    free_list = _int(data["free_list"], f"{what}.free_list", 0, nfreelist - 1)
    start_hint = _int(data["start_hint"], f"{what}.start_hint", 0, _U64 - 1)
    dummy = data["dummy_variable"]
    if not isinstance(dummy, bool):
        dummy = _int(dummy, f"{what}.dummy_variable", -_I64, _I64 - 1)
    pgs: tuple[int, int] | None = None
    if data["pgs"] is not None:
        pair = _list(data["pgs"], f"{what}.pgs")
        if len(pair) != 2:
            raise ImageError(f"{what}.pgs", "[slab ident, index] or None is expected")
        ident = _int(pair[0], f"{what}.pgs", 0, _I64 - 1)
        if ident not in slabs:
            raise ImageError(f"{what}.pgs", f"no slab has ident {ident}")
        pgs = (ident, _int(pair[1], f"{what}.pgs", 0, slabs[ident].npages))
    ext: int | None = None
    if data["ext"] is not None:
        ext = _int(data["ext"], f"{what}.ext", 0, _I64 - 1)
        if ext >= nextents:
            raise ImageError(f"{what}.ext", f"no extent has index {ext} ({nextents} extents)")
    pool_slot = _int(data["pool_slot"], f"{what}.pool_slot", -1, MAX_PHYSSEG - 1)
    start, end, avail_start, avail_end = pfns
    return _Record(
        start, end, avail_start, avail_end, free_list, start_hint, dummy, pgs, ext, pool_slot
    )


def _check_references(
    records: list[_Record],
    slabs: dict[int, _SlabMeta],
    extents: list[tuple[int, bool, int, dict[str, Any]]],
) -> None:
    """Every slab and every extent of the image is referenced: an image holds what its records
    reach and nothing else."""
    used_extents = {record.ext for record in records if record.ext is not None}
    for k in range(len(extents)):
        if k not in used_extents:
            raise ImageError(f"meta.extents[{k}]", "no record uses this extent")
    used_slabs = {record.pgs[0] for record in records if record.pgs is not None}
    used_slabs.update(ident for ident, _, _, _ in extents)
    for k, ident in enumerate(slabs):
        if ident not in used_slabs:
            raise ImageError(f"meta.slabs[{k}]", f"no record or extent uses slab {ident}")


def _stolen(value: object) -> list[tuple[int, int]]:
    stolen: list[tuple[int, int]] = []
    for k, item in enumerate(_list(value, "meta.counters.stolen")):
        what = f"meta.counters.stolen[{k}]"
        pair = _list(item, what)
        if len(pair) != 2:
            raise ImageError(what, "[byte address, pages] is expected")
        stolen.append((_int(pair[0], what, 0, _U64 - 1), _int(pair[1], what, 1, _I64 - 1)))
    return stolen


# ----------------------------------------------------------------- decoding
def _build_slabs(
    slabs: dict[int, _SlabMeta],
    arrays: dict[str, npt.NDArray[Any]],
    page_size: int,
    lazy: bool,
) -> dict[int, Slab]:
    """The slabs, allocated (bounded beforehand) and filled from their runs."""
    built: dict[int, Slab] = {}
    offsets = dict.fromkeys(_COLUMNS, 0)
    for k, meta in enumerate(slabs.values()):
        try:
            slab = Slab(meta.npages, meta.name, ident=meta.ident, lazy=lazy)
        except MemoryError:
            raise ImageError(
                f"meta.slabs[{k}].npages", f"the host cannot hold {meta.npages} page entries"
            ) from None
        spans = {}
        for column in _COLUMNS:
            spans[column] = slice(offsets[column], offsets[column] + meta.runs[column])
            offsets[column] += meta.runs[column]
        try:
            part = spans["phys_addr"]
            _decode_progressions(
                slab.phys_addr,
                arrays["phys_addr_first"][part],
                arrays["phys_addr_count"][part],
                arrays["phys_addr_step"][part],
                page_size,
            )
            part = spans["free_list"]
            _decode_constant(
                slab.free_list, arrays["free_list_value"][part], arrays["free_list_count"][part]
            )
            part = spans["flags"]
            _decode_constant(slab.flags, arrays["flags_value"][part], arrays["flags_count"][part])
        except MemoryError:
            raise ImageError(
                f"meta.slabs[{k}]", f"the host cannot hold {meta.npages} page entries"
            ) from None
        built[meta.ident] = slab
    return built


def _groups(counts: npt.NDArray[np.int64]) -> list[tuple[int, int, int]]:
    """The runs in groups ``(first run, end run, first entry)``: a run longer than
    :data:`_CHUNK` alone, else as many consecutive runs as fit in :data:`_CHUNK` entries. Two
    consecutive groups cover more than :data:`_CHUNK` entries unless one is the last, so there
    are O(P / chunk + long runs) of them."""
    ends = np.cumsum(counts)
    groups: list[tuple[int, int, int]] = []
    a = 0
    nruns = counts.size
    while a < nruns:
        first = int(ends[a] - counts[a])
        if counts[a] > _CHUNK:
            groups.append((a, a + 1, first))
            a += 1
            continue
        b = int(np.searchsorted(ends, first + _CHUNK, side="right"))
        groups.append((a, b, first))
        a = b
    return groups


def _decode_constant(out: Column, values: npt.NDArray[Any], counts: npt.NDArray[np.int64]) -> None:
    """Write the constant runs into ``out`` (whose size the runs cover exactly). Temporaries of
    at most :data:`_CHUNK` entries."""
    if isinstance(out, LazyColumn):
        _decode_lazy(out, values, counts, np.zeros(counts.size, dtype=np.uint64))
        return
    for a, b, first in _groups(counts):
        total = int(counts[a:b].sum())
        if b == a + 1:
            out[first : first + total] = values[a]
        else:
            out[first : first + total] = np.repeat(values[a:b], counts[a:b])


def _decode_lazy(
    out: LazyColumn,
    values: npt.NDArray[Any],
    counts: npt.NDArray[np.int64],
    steps: npt.NDArray[np.uint64],
) -> None:
    """Write runs (``values`` the first entries, ``steps`` the increments) into the lazy column
    ``out``: a run of :data:`_LAZY_RUN` entries or more stays a run; shorter ones are written,
    a stretch of consecutive short runs at once, into the chunks they lie in."""
    ends = np.cumsum(counts)
    zero = (values == 0) & (steps == 0)
    short = np.flatnonzero((counts < _LAZY_RUN) & ~zero)
    long_runs = np.flatnonzero((counts >= _LAZY_RUN) & ~zero)
    for r in long_runs.tolist():
        first = int(ends[r] - counts[r])
        column_fill(out, first, int(ends[r]), int(values[r]), int(steps[r]))
    if not short.size:
        return
    breaks = np.flatnonzero(np.diff(short) != 1) + 1
    for stretch in np.split(short, breaks):
        a, b = int(stretch[0]), int(stretch[-1]) + 1
        start = int(ends[a] - counts[a])
        run_counts = counts[a:b]
        run_starts = np.cumsum(run_counts) - run_counts
        offsets = np.arange(int(run_counts.sum()), dtype=np.uint64) - np.repeat(
            run_starts, run_counts
        ).astype(np.uint64)
        offsets *= np.repeat(steps[a:b], run_counts)
        offsets += np.repeat(values[a:b].astype(np.uint64), run_counts)
        out[start : start + offsets.size] = offsets.astype(out.dtype)


def _decode_progressions(
    out: Column,
    firsts: npt.NDArray[np.uint64],
    counts: npt.NDArray[np.int64],
    steps: npt.NDArray[np.uint8],
    page_size: int,
) -> None:
    """Write the ascending (step 1: + ``page_size`` an entry) and constant (step 0) runs into
    ``out``, wrapping modulo 2**64 as the encoder does. Temporaries of at most :data:`_CHUNK`
    entries: a long run is written a chunk at a time, in place."""
    size = np.uint64(page_size)
    if isinstance(out, LazyColumn):
        _decode_lazy(out, firsts, counts, steps.astype(np.uint64) * size)
        return
    for a, b, first in _groups(counts):
        if b == a + 1 and counts[a] > _CHUNK:
            length = int(counts[a])
            if not steps[a]:
                out[first : first + length] = firsts[a]
                continue
            for chunk in range(0, length, _CHUNK):
                part = min(_CHUNK, length - chunk)
                target = out[first + chunk : first + chunk + part]
                target[:] = np.arange(chunk, chunk + part, dtype=np.uint64)
                target *= size
                target += firsts[a]
            continue
        run_counts = counts[a:b]
        total = int(run_counts.sum())
        run_starts = np.cumsum(run_counts) - run_counts
        offsets = np.arange(total, dtype=np.int64) - np.repeat(run_starts, run_counts)
        target = out[first : first + total]
        target[:] = offsets.astype(np.uint64)
        target *= np.repeat(steps[a:b].astype(np.uint64) * size, run_counts)
        target += np.repeat(firsts[a:b], run_counts)
