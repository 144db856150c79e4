"""Hostile engine images: two valid bases and a table of corruptions, each naming what it breaks
and the part of the image ``load_image`` must blame (``ImageError.what``).

Shared by ``tests/test_image.py``, which loads every corruption in the test process, and by the
subprocess it starts to load them all again under an address-space limit (so that a corruption
claiming a huge slab is shown to be refused before anything is allocated).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from physseg import PhysMem
from physseg.netbsd import KernelImage
from physseg.netbsd.image import MAX_IMAGE_PAGES

Meta = dict[str, Any]
Arrays = dict[str, np.ndarray[Any, Any]]


@functools.cache
def rbtree_base() -> KernelImage:
    """A booted rbtree machine with both kinds of slab and record: two boot segments (pool
    slots 0 and 1, the boot slab's fixed extent), a middle split (a run-time record sharing the
    boot slab), a plug too big for the freed entries (a "Hotplug slab" with a dynamic extent)
    and a plug scavenged from the boot slab."""
    mem = PhysMem(physseg_max=4)
    mem.load(0x100, 0x200)
    mem.load(0x300, 0x400, free_list=1)
    mem.boot()
    mem.unplug(0x140, 0x10)
    mem.plug(0x1000, 0x100)
    mem.plug(0x140, 0x8)
    return mem.image()


@functools.cache
def static_base() -> KernelImage:
    """A booted static array of four slots: three segments loaded, the middle one unplugged
    whole at run time, which leaves a stale copy of the last record in slot 2."""
    mem = PhysMem("static", physseg_max=4)
    mem.load(0x100, 0x200)
    mem.load(0x300, 0x400)
    mem.load(0x500, 0x600)
    mem.boot(steal=False)
    mem.unplug(0x300, 0x100)
    return mem.image()


def copy_image(image: KernelImage) -> tuple[Meta, Arrays]:
    """A deep copy of the meta and writable copies of the arrays."""
    return copy.deepcopy(image.meta), {name: a.copy() for name, a in image.arrays.items()}


Mutation = Callable[[Meta, Arrays], object]
"""Corrupts the copies in place; a result other than ``None`` replaces the whole image."""


@dataclass(frozen=True)
class Corruption:
    """What is broken, on which base, how, and the part of the image that must be blamed
    (``ImageError.what`` starts with ``blame``)."""

    name: str
    base: Callable[[], KernelImage]
    mutate: Mutation
    blame: str
    because: str = ""
    """A piece of ``ImageError.reason`` (the bound, for the sizes a bound must stop before
    anything is allocated)."""


def _set(path: str, value: object) -> Mutation:
    """Set ``meta[path]`` (dotted, with ``[k]`` list indexes) to ``value``."""

    def mutate(meta: Meta, arrays: Arrays) -> None:
        *parents, last = _steps(path)
        node: Any = meta
        for step in parents:
            node = node[step]
        node[last] = value

    return mutate


def _steps(path: str) -> list[str | int]:
    steps: list[str | int] = []
    for part in path.split("."):
        name, *indexes = part.split("[")
        if name:
            steps.append(name)
        steps.extend(int(index.rstrip("]")) for index in indexes)
    return steps


def _pool_records(meta: Meta) -> list[int]:
    return [k for k, rec in enumerate(meta["records"]) if rec["pool_slot"] >= 0]


def _slot_twice(meta: Meta, arrays: Arrays) -> None:
    first, second = _pool_records(meta)[:2]
    meta["records"][second]["pool_slot"] = meta["records"][first]["pool_slot"]


def _slot_past_cursor(meta: Meta, arrays: Arrays) -> None:
    meta["records"][_pool_records(meta)[0]]["pool_slot"] = meta["build"]["nseg"]


def _zero_length_run(meta: Meta, arrays: Arrays) -> None:
    counts = arrays["flags_count"]
    counts[1] += counts[0]
    counts[0] = 0


def _huge_slab(meta: Meta, arrays: Arrays) -> None:
    """A slab claiming 2**60 entries with runs that say the same: only the bound stops it."""
    slab = meta["slabs"][0]
    slab["npages"] = 1 << 60
    slab["runs"] = {"phys_addr": 1, "free_list": 1, "flags": 1}
    for name in ("phys_addr", "free_list", "flags"):
        runs = meta["slabs"][1]["runs"][name]
        count = arrays[f"{name}_count"]
        tail = count[count.size - runs :]
        arrays[f"{name}_count"] = np.concatenate([np.array([1 << 60], np.int64), tail])
    for name in ("phys_addr_first", "phys_addr_step", "free_list_value", "flags_value"):
        column = name.rsplit("_", 1)[0]
        runs = meta["slabs"][1]["runs"][column]
        tail = arrays[name][arrays[name].size - runs :]
        arrays[name] = np.concatenate([arrays[name][:1], tail])


def _unreferenced_slab(meta: Meta, arrays: Arrays) -> None:
    meta["counters"]["slab_ids"] += 1
    meta["slabs"].append(
        {
            "ident": meta["counters"]["slab_ids"],
            "name": "stray",
            "npages": 0,
            "runs": {"phys_addr": 0, "free_list": 0, "flags": 0},
        }
    )


def _hotplug_extent(meta: Meta) -> dict[str, Any]:
    return next(e for e in meta["extents"] if e["extent"]["name"] == "Hotplug slab")


def _extent_lost_its_regions(meta: Meta, arrays: Arrays) -> None:
    _hotplug_extent(meta)["extent"]["regions"] = []


def _regions_overlap(meta: Meta, arrays: Arrays) -> None:
    regions = meta["extents"][0]["extent"]["regions"]
    start, size, static = regions[0]
    regions.insert(1, [start + 1, size, static])


def _phys_addr_wrong(meta: Meta, arrays: Arrays) -> None:
    arrays["phys_addr_first"][0] += np.uint64(1 << meta["config"]["page_shift"])


def _pgs_overruns(meta: Meta, arrays: Arrays) -> None:
    record = meta["records"][0]
    ident = record["pgs"][0]
    npages = next(s["npages"] for s in meta["slabs"] if s["ident"] == ident)
    record["pgs"] = [ident, npages - 1]


def _overlap(meta: Meta, arrays: Arrays) -> None:
    meta["records"][1]["start"] = meta["records"][0]["start"] + 1


def _same_start(meta: Meta, arrays: Arrays) -> None:
    meta["records"][1]["start"] = meta["records"][0]["start"]


def _drop(path: str, key: str) -> Mutation:
    def mutate(meta: Meta, arrays: Arrays) -> None:
        node: Any = meta
        for step in _steps(path):
            node = node[step]
        del node[key]

    return mutate


def _array(name: str, change: Callable[[np.ndarray[Any, Any]], object]) -> Mutation:
    def mutate(meta: Meta, arrays: Arrays) -> None:
        arrays[name] = change(arrays[name])  # type: ignore[assignment]

    return mutate


def _add(path: str, delta: int) -> Mutation:
    def mutate(meta: Meta, arrays: Arrays) -> None:
        *parents, last = _steps(path)
        node: Any = meta
        for step in parents:
            node = node[step]
        node[last] += delta

    return mutate


def _bump_first_count(meta: Meta, arrays: Arrays) -> None:
    arrays["phys_addr_count"][0] += 1


def _step_two(meta: Meta, arrays: Arrays) -> None:
    arrays["phys_addr_step"][0] = 2


def _run_past_slab(meta: Meta, arrays: Arrays) -> None:
    arrays["free_list_count"][0] = 1 << 62


def _two_slabs_one_ident(meta: Meta, arrays: Arrays) -> None:
    meta["slabs"][1]["ident"] = meta["slabs"][0]["ident"]


def _stray_extent(meta: Meta, arrays: Arrays) -> None:
    meta["extents"].append(copy.deepcopy(meta["extents"][0]))


def _extra_array(meta: Meta, arrays: Arrays) -> None:
    arrays["extra"] = np.zeros(1, np.uint8)


def _drop_array(meta: Meta, arrays: Arrays) -> None:
    del arrays["flags_count"]


def _total_past_bound(meta: Meta, arrays: Arrays) -> None:
    meta["slabs"][0]["npages"] = MAX_IMAGE_PAGES
    meta["slabs"][1]["npages"] = MAX_IMAGE_PAGES


R = rbtree_base
S = static_base
BOUND = str(MAX_IMAGE_PAGES)

CORRUPTIONS: tuple[Corruption, ...] = (
    # --- the envelope
    Corruption("not a KernelImage", R, lambda m, a: {"meta": m, "arrays": a}, "image"),
    Corruption("meta not a dict", R, lambda m, a: KernelImage([m], a), "meta"),  # type: ignore[arg-type]
    Corruption("format missing", R, _drop("", "format"), "meta.format"),
    Corruption("format newer", R, _set("format", 2), "meta.format"),
    Corruption("format older", R, _set("format", 0), "meta.format"),
    Corruption("format a string", R, _set("format", "1"), "meta.format"),
    Corruption("unknown meta key", R, _set("comment", "hand-edited"), "meta"),
    Corruption("records missing", R, _drop("", "records"), "meta"),
    # --- configuration
    Corruption("unknown backend", R, _set("config.backend", "btree"), "meta.config.backend"),
    Corruption("unknown strategy", R, _set("config.strategy", "best"), "meta.config.strategy"),
    Corruption("config key missing", R, _drop("config", "page_shift"), "meta.config"),
    Corruption(
        "bool where an int belongs", R, _set("config.physseg_max", True), "meta.config.physseg_max"
    ),
    Corruption(
        "absurd physseg_max", R, _set("config.physseg_max", 1 << 40), "meta.config.physseg_max"
    ),
    Corruption("page_shift below 9", R, _set("config.page_shift", 8), "meta.config.page_shift"),
    Corruption("no free list", R, _set("config.nfreelist", 0), "meta.config.nfreelist"),
    # --- counters
    Corruption("npages a string", R, _set("counters.npages", "12"), "meta.counters.npages"),
    Corruption("physmem a float", R, _set("counters.physmem", 1.0), "meta.counters.physmem"),
    Corruption(
        "page_init_done an int",
        R,
        _set("counters.page_init_done", 1),
        "meta.counters.page_init_done",
    ),
    Corruption(
        "stolen run malformed", R, _set("counters.stolen", [[1]]), "meta.counters.stolen[0]"
    ),
    Corruption("slab ident past slab_ids", R, _set("counters.slab_ids", 1), "meta.slabs[1].ident"),
    # --- slabs and their page runs
    Corruption("slab of 2**60 pages", R, _huge_slab, "meta.slabs[0].npages", BOUND),
    Corruption(
        "slab just past the bound",
        R,
        _set("slabs[0].npages", MAX_IMAGE_PAGES + 1),
        "meta.slabs[0].npages",
        BOUND,
    ),
    Corruption(
        "slabs together past the bound", R, _total_past_bound, "meta.slabs[1].npages", BOUND
    ),
    Corruption("negative slab size", R, _set("slabs[0].npages", -1), "meta.slabs[0].npages"),
    Corruption("two slabs, one ident", R, _two_slabs_one_ident, "meta.slabs[1].ident"),
    Corruption("unreferenced slab", R, _unreferenced_slab, "meta.slabs[2]"),
    Corruption(
        "more runs than entries", R, _set("slabs[0].runs.flags", 1 << 40), "meta.slabs[0].runs"
    ),
    Corruption("runs disagree with the arrays", R, _add("slabs[0].runs.flags", 1), "arrays.flags"),
    Corruption("runs do not cover the slab", R, _bump_first_count, "arrays.phys_addr_count"),
    Corruption("zero-length run", R, _zero_length_run, "arrays.flags_count"),
    Corruption("run longer than its slab", R, _run_past_slab, "arrays.free_list_count"),
    Corruption("step kind 2", R, _step_two, "arrays.phys_addr_step"),
    Corruption("missing array", R, _drop_array, "arrays"),
    Corruption("unknown array", R, _extra_array, "arrays"),
    Corruption(
        "wrong dtype",
        R,
        _array("phys_addr_first", lambda x: x.astype(np.int64)),
        "arrays.phys_addr_first",
    ),
    Corruption(
        "byte order swapped",
        R,
        _array("phys_addr_first", lambda x: x.astype(">u8")),
        "arrays.phys_addr_first",
    ),
    Corruption(
        "2-D array", R, _array("flags_value", lambda x: x.reshape(-1, 1)), "arrays.flags_value"
    ),
    Corruption(
        "a list, not an array", R, _array("flags_value", lambda x: x.tolist()), "arrays.flags_value"
    ),
    # --- extents
    Corruption("extent of a missing slab", R, _set("extents[0].slab", 99), "meta.extents[0].slab"),
    Corruption("unreferenced extent", R, _stray_extent, "meta.extents[2]"),
    Corruption("extent regions overlap", R, _regions_overlap, "meta.extents[0].extent"),
    Corruption(
        "extent end before its start", R, _set("extents[0].extent.end", -1), "meta.extents[0]"
    ),
    Corruption("member count wrong", R, _add("extents[0].members", 1), "meta.extents[0].members"),
    Corruption("extent lost its regions", R, _extent_lost_its_regions, "kernel"),
    # --- records
    Corruption("record missing a key", R, _drop("records[0]", "start_hint"), "meta.records[0]"),
    Corruption(
        "start_hint a float", R, _set("records[0].start_hint", 1.5), "meta.records[0].start_hint"
    ),
    Corruption("PFN past 2**64", R, _set("records[0].end", 1 << 64), "meta.records[0].end"),
    Corruption(
        "free list past nfreelist", R, _set("records[0].free_list", 4), "meta.records[0].free_list"
    ),
    Corruption(
        "dummy_variable a string",
        R,
        _set("records[0].dummy_variable", "0"),
        "meta.records[0].dummy_variable",
    ),
    Corruption("pgs of a missing slab", R, _set("records[0].pgs", [99, 0]), "meta.records[0].pgs"),
    Corruption("ext of a missing extent", R, _set("records[0].ext", 9), "meta.records[0].ext"),
    Corruption("overlapping segments", R, _overlap, "meta.records[1]"),
    Corruption("pool slot used twice", R, _slot_twice, "meta.records[3].pool_slot"),
    Corruption("pool slot past the cursor", R, _slot_past_cursor, "meta.records[0].pool_slot"),
    Corruption("pool cursor past physseg_max", R, _set("build.nseg", 5), "meta.build.nseg"),
    Corruption("the static build's counters", R, _set("build", {"n": 1}), "meta.build"),
    # --- self-consistent in form, refused by Kernel.check()
    Corruption("nentries wrong", R, _add("build.nentries", 1), "kernel"),
    Corruption("page array past its slab's end", R, _pgs_overruns, "kernel"),
    Corruption("a page's phys_addr wrong", R, _phys_addr_wrong, "kernel"),
    # --- the static build
    Corruption("vm_nphysseg past the slots kept", S, _set("build.n", 4), "meta.build.n"),
    Corruption("a pool slot in the array", S, _set("records[0].pool_slot", 0), "meta.records[0]"),
    Corruption("static segments overlap", S, _same_start, "kernel"),
)
"""Every corruption, each on a fresh copy of its base."""


def corrupted(corruption: Corruption) -> object:
    """The corrupted image (usually a ``KernelImage``; the envelope cases return other
    objects)."""
    meta, arrays = copy_image(corruption.base())
    replaced = corruption.mutate(meta, arrays)
    return KernelImage(meta, arrays) if replaced is None else replaced
