"""Engine images (``physseg.netbsd.image``): a kernel saved as plain data and rebuilt from it.

* Exact restore: sequences of kernel calls on both builds and several configurations; before
  every call the live kernel is saved and loaded, the two are compared (``full_state``, the
  segment infos, ``Kernel.check``, every static slot, and the images of both), then the SAME
  call goes to both and they are compared again, so state no getter shows (the boot pool cursor,
  the slab numbering, extent descriptors, stale static slots) is proven restored.
* The page runs: encoding and decoding across chunk seams, and the size of a 16 GiB machine.
* The store's round trip: meta through JSON, arrays through ``tobytes`` / ``frombuffer``.
* Hostile images: every corruption of ``support.image_corruptions`` raises ``ImageError``
  blaming the right part, in this process and again in a subprocess under an address-space
  limit; random mutations raise nothing else.
* The face: ``PhysMem.image`` / ``PhysMem.from_image`` with ``coalesce`` and ``safe_unplug``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from physseg import KernelAssertionError, KernelHang, KernelPanic, PagesBusyError, PhysMem
from physseg.core.alloc import Allocator
from physseg.core.pages import Page
from physseg.errors import ImageError
from physseg.memmap import ATF_FREELISTS, load_map, plan_boot
from physseg.netbsd import IMAGE_FORMAT, Handle, Kernel, KernelImage, load_image, save_image
from physseg.netbsd import image as image_module
from physseg.pagealloc import PageAllocator
from support.image_corruptions import (
    CORRUPTIONS,
    Corruption,
    copy_image,
    corrupted,
    rbtree_base,
    static_base,
)
from support.naive import full_state, shaped_range

pytestmark = pytest.mark.usefixtures("page_mode")

UNIVERSE = 128
"""PFNs the sequences use."""
MAX_SPAN = 20
NFREELIST = 3


@dataclass(frozen=True)
class Config:
    """One kernel build."""

    backend: str
    physseg_max: int
    strategy: str
    page_shift: int = 12

    def __str__(self) -> str:
        return f"{self.backend}-max{self.physseg_max}-{self.strategy}-shift{self.page_shift}"


CONFIGS = [
    Config("rbtree", 1, "bsearch"),
    Config("rbtree", 3, "bsearch"),
    Config("rbtree", 16, "bigfirst"),
    Config("rbtree", 8, "random", 14),
    Config("static", 1, "bsearch"),
    Config("static", 8, "bsearch"),
    Config("static", 8, "random", 13),
    Config("static", 8, "bigfirst"),
]

SHAPES = ("whole", "front", "back", "middle", "cross", "hole")
INDEX = st.integers(0, 63)
CALLS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "physload": st.tuples(
        st.just("physload"),
        st.integers(0, UNIVERSE - MAX_SPAN),
        st.integers(1, MAX_SPAN),
        st.integers(0, 3),
        st.integers(0, 3),
        st.integers(0, NFREELIST - 1),
    ),
    "unplug": st.tuples(
        st.just("unplug"), INDEX, st.sampled_from(SHAPES), INDEX, INDEX, st.booleans()
    ),
    "physunload": st.tuples(
        st.just("physunload"), INDEX, st.integers(0, NFREELIST - 1), st.booleans()
    ),
    "physget": st.tuples(st.just("physget")),
    "plug": st.tuples(
        st.just("plug"), st.integers(0, UNIVERSE - MAX_SPAN), st.integers(1, MAX_SPAN)
    ),
    "hint": st.tuples(st.just("hint"), INDEX, st.integers(0, 2**64 - 1)),
    "avail": st.tuples(st.just("avail"), INDEX, st.booleans(), st.integers(-2, 3)),
    "merge": st.tuples(st.just("merge"), INDEX),
    "pmseg": st.tuples(st.just("pmseg"), INDEX, st.integers(-3, 3) | st.booleans()),
}
"""One kernel call each by name, its arguments drawn; :func:`apply` fits them to the current
state (``page_init`` is placed by :func:`sequence`)."""
BOOT_MAP = st.lists(
    st.tuples(
        st.just("physload"),
        st.integers(0, UNIVERSE - MAX_SPAN),
        st.integers(1, MAX_SPAN),
        st.just(0),
        st.just(0),
        st.integers(0, NFREELIST - 1),
    ),
    min_size=1,
    max_size=4,
)


# ----------------------------------------------------------------- driving a kernel
def _free_from(kernel: Kernel, pfn: int) -> tuple[int, int]:
    """The first unmanaged PFN at or above ``pfn`` and the length of the free run there."""
    spans = sorted((info.start, info.end) for info in kernel.segment_infos())
    for start, end in spans:
        if start <= pfn < end:
            pfn = end
    above = [start for start, _ in spans if start > pfn]
    return pfn, (min(above) - pfn) if above else UNIVERSE


def _call(kernel: Kernel, op: tuple[Any, ...]) -> Any:
    """Make the call ``op`` names on ``kernel``; ``"skip"`` when it does not fit the state."""
    kind = op[0]
    booted = kernel.uvm.page_init_done
    infos = kernel.segment_infos()
    info = None
    pool_full = not booted and kernel.boot_records_used >= kernel.VM_PHYSSEG_MAX
    """A boot-time call that needs a boot pool record now hits the pool's KASSERT, which leaves
    a dead kernel (nothing to restore): such calls are skipped."""
    if kind in ("unplug", "physunload", "hint", "avail", "merge", "pmseg"):
        if not infos:
            return "skip"
        info = infos[op[1] % len(infos)]
    if kind == "physload":
        if booted or pool_full:
            return "skip"
        _, start, length, head, tail, free_list = op
        start, room = _free_from(kernel, start)
        end = start + min(length, room)
        avail_start = min(start + head, end - 1)
        return kernel.uvm_page_physload(
            start, end, avail_start, max(avail_start + 1, end - tail), free_list
        )
    if kind == "unplug":
        if pool_full and kernel.can_split_middle and op[2] == "middle":
            return "skip"
        pfn, pages = shaped_range(
            info.start, info.end, op[2], op[3], op[4], lambda: _free_from(kernel, op[3])[0]
        )
        return kernel.uvm_physseg_unplug(pfn, pages, atomic=op[5])
    if kind == "physunload":
        if booted:
            return "skip"
        assert info is not None
        if op[3]:
            if pool_full and info.avail_start > info.start:
                return "skip"
            return kernel.uvm_page_physunload_force(info.handle, op[2])
        return kernel.uvm_page_physunload(info.handle, op[2])
    if kind == "physget":
        return "skip" if booted or pool_full else kernel.uvm_page_physget()
    if kind == "page_init":
        if booted or not infos:
            return "skip"
        if op[1]:
            return kernel.uvm_page_init_fake(sum(i.end - i.start for i in infos))
        return kernel.uvm_page_init()
    if kind == "plug":
        if (booted and not kernel.can_hotplug) or pool_full:
            return "skip"
        start, room = _free_from(kernel, op[1])
        return kernel.uvm_physseg_plug(start, min(op[2], room))
    assert info is not None
    if kind == "hint":
        return kernel.uvm_physseg_set_start_hint(info.handle, op[2])
    if kind == "avail":
        if op[2]:
            return kernel.uvm_physseg_set_avail_end(info.handle, info.avail_end + op[3])
        return kernel.uvm_physseg_set_avail_start(info.handle, info.avail_start + op[3])
    if kind == "merge":
        position = infos.index(info)
        if position + 1 == len(infos):
            return "skip"
        right = infos[position + 1].handle
        if not kernel.segments_mergeable(info.handle, right):
            return "skip"
        return kernel.merge_adjacent(info.handle, right)
    assert kind == "pmseg"
    if booted and not kernel.uvm_physseg_valid_p(info.handle):
        return "skip"
    kernel.uvm_physseg_get_pmseg(info.handle).dummy_variable = op[2]
    return None


def normal(kernel: Kernel, value: Any) -> Hashable:
    """A call's result with its handles as positions in the iteration order and its page
    pointers as ``(slab ident, index)``, so results of two kernels compare."""
    if isinstance(value, Page):
        return ("page", value.slab.ident, value.index)
    if isinstance(value, tuple):
        return tuple(normal(kernel, item) for item in value)
    if value is None or isinstance(value, bool | int | str):
        return value
    handles = [info.handle for info in kernel.segment_infos()]
    return ("handle", next((k for k, h in enumerate(handles) if h is value), None))


def apply(kernel: Kernel, op: tuple[Any, ...]) -> Hashable:
    """``("ok", result)`` or the abort (a panic, a KASSERT, a hang, the ``ValueError`` of an
    empty slab), normalised."""
    try:
        return ("ok", normal(kernel, _call(kernel, op)))
    except (KernelPanic, KernelAssertionError, KernelHang, ValueError) as exc:
        return ("abort", type(exc).__name__, str(exc))


def checks(kernel: Kernel) -> str | None:
    """``None`` when ``Kernel.check()`` passes, else its message."""
    try:
        kernel.check()
    except AssertionError as exc:
        return str(exc)
    return None


def observed(mem: PhysMem) -> Hashable:
    """What a caller can see: ``full_state``, the segment infos, the counters and, on the
    static build, every slot of the array (quirk 4 makes unused ones readable)."""
    kernel = mem.kernel
    infos = tuple(
        (i.start, i.end, i.avail_start, i.avail_end, i.free_list, i.start_hint)
        + ((None,) if i.pgs is None else (i.pgs.slab.ident, i.pgs.index))
        + ((i.handle,) if not kernel.can_hotplug else ())
        for i in kernel.segment_infos()
    )
    slots: tuple[Hashable, ...] = ()
    if not kernel.can_hotplug:
        slots = tuple(
            (
                info.start,
                info.end,
                info.avail_start,
                info.avail_end,
                info.free_list,
                None if info.pgs is None else (info.pgs.slab.ident, info.pgs.index),
            )
            for info in (kernel.segment_info(Handle(k)) for k in range(kernel.VM_PHYSSEG_MAX))
        )
    return (
        full_state(mem),
        infos,
        slots,
        kernel.uvm_physseg_get_entries(),
        kernel.boot_records_used,
        kernel.uvmexp.npages,
        kernel.physmem,
        kernel.uvm.page_init_done,
    )


def assert_same(live: PhysMem, twin: PhysMem) -> None:
    assert observed(twin) == observed(live)
    assert checks(twin) == checks(live)
    assert save_image(twin.kernel) == save_image(live.kernel)


def _new(config: Config) -> PhysMem:
    return PhysMem(
        config.backend,
        physseg_max=config.physseg_max,
        strategy=config.strategy,
        nfreelist=NFREELIST,
        page_shift=config.page_shift,
    )


def _budget(share: int) -> settings:
    base = settings.default
    return settings(base, max_examples=max(5, base.max_examples // share))


# ----------------------------------------------------------------- exact restore
BOOT_OPS = st.lists(
    st.one_of(*(CALLS[name] for name in ("physload", "unplug", "physunload", "physget", "plug"))),
    max_size=6,
)
RUN_OPS = st.lists(st.one_of(*CALLS.values()), min_size=4, max_size=20)


def sequence(
    config: Config,
    boot_map: list[tuple[Any, ...]],
    boot_ops: list[tuple[Any, ...]],
    init: bool | None,
    run_ops: list[tuple[Any, ...]],
) -> tuple[PhysMem, list[tuple[Any, ...]]]:
    """A kernel with its memory map loaded (no more loads than boot pool slots) and the calls
    to make on it: boot-time calls, ``uvm_page_init`` (fake or real, unless ``init`` is
    ``None``) and run-time calls."""
    live = _new(config)
    for op in boot_map[: config.physseg_max]:
        apply(live.kernel, op)
    middle = [] if init is None else [("page_init", init)]
    return live, boot_ops + middle + run_ops


@pytest.mark.parametrize("config", CONFIGS, ids=str)
@_budget(2)
@given(
    boot_map=BOOT_MAP,
    boot_ops=BOOT_OPS,
    init=st.none() | st.booleans(),
    run_ops=RUN_OPS,
)
def test_a_restored_kernel_is_the_live_one_and_stays_so_under_the_same_calls(
    config: Config,
    boot_map: list[tuple[Any, ...]],
    boot_ops: list[tuple[Any, ...]],
    init: bool | None,
    run_ops: list[tuple[Any, ...]],
) -> None:
    live, ops = sequence(config, boot_map, boot_ops, init, run_ops)
    for op in ops:
        if checks(live.kernel) is not None:
            event("stopped: an abort left the kernel half-way")
            return  # the C kernel would be dead
        twin = PhysMem.from_image(live.image())
        assert_same(live, twin)
        outcome = apply(live.kernel, op)
        assert apply(twin.kernel, op) == outcome
        assert_same(live, twin)
        event(f"{op[0]}: {outcome[0] if outcome != ('ok', 'skip') else 'skip'}")


def test_an_image_of_a_kernel_that_fails_its_check_is_refused() -> None:
    mem = PhysMem(physseg_max=2)
    mem.load(0x100, 0x200)
    mem.boot(steal=False)
    mem.kernel.uvmexp.npages = -5  # allowed (quirk 5): not an invariant
    PhysMem.from_image(mem.image())
    info = mem.kernel.segment_infos()[0]
    mem.kernel.uvm_physseg_set_start_hint(info.handle, 3)
    assert info.pgs is not None
    info.pgs.slab.phys_addr[0] = 0
    with pytest.raises(ImageError) as caught:
        PhysMem.from_image(mem.image())
    assert caught.value.what == "kernel" and "page phys_addr" in caught.value.reason


def test_loading_asks_the_allocator_for_nothing_and_later_calls_use_it() -> None:
    mem = PhysMem()
    mem.load(0x100, 0x200)
    mem.boot(steal=False)
    mem.plug(0x400, 0x40)
    allocator = Allocator()
    twin = PhysMem.from_image(mem.image(), allocator=allocator)
    assert allocator.calls == 0
    twin.plug(0x1000, 0x80)
    assert allocator.calls > 0


def test_saving_refuses_what_an_image_cannot_describe() -> None:
    mem = PhysMem(physseg_max=4)
    mem.load(0x100, 0x200)
    mem.boot(steal=False)
    mem.plug(0x400, 0x40)
    with mock.patch.object(image_module, "MAX_PHYSSEG", 2), pytest.raises(ImageError) as bound:
        mem.image()
    assert bound.value.what == "meta.config.physseg_max"
    info = mem.kernel.segment_infos()[-1]
    assert info.pgs is not None
    info.pgs.slab.ident = 1  # two slabs now answer to ident 1
    with pytest.raises(ImageError) as twins:
        mem.image()
    assert twins.value.what == "meta.slabs" and "ident 1" in twins.value.reason


# ----------------------------------------------------------------- page runs
@settings(max_examples=200)
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(["up", "same", "zero", "wrap"]), st.integers(1, 12)),
        max_size=12,
    ),
    chunk=st.integers(1, 9),
)
def test_page_runs_decode_to_what_was_encoded_across_chunk_seams(
    pieces: list[tuple[str, int]], chunk: int
) -> None:
    step = 4096
    values: list[int] = []
    for kind, length in pieces:
        first = {"up": 0x5000, "same": 0x9000, "zero": 0, "wrap": 2**64 - 2 * step}[kind]
        delta = step if kind in ("up", "wrap") else 0
        values.extend((first + k * delta) % 2**64 for k in range(length))
    phys = np.array(values, dtype=np.uint64)
    flags = (phys >> np.uint64(12)).astype(np.uint8) & np.uint8(3)
    with mock.patch.object(image_module, "_CHUNK", chunk):
        firsts, counts, steps = image_module._encode_progressions(phys, step)
        out = np.zeros(phys.size, np.uint64)
        image_module._decode_progressions(out, firsts, counts, steps, step)
        flag_values, flag_counts = image_module._encode_constant(flags)
        flags_out = np.zeros(flags.size, np.uint8)
        image_module._decode_constant(flags_out, flag_values, flag_counts)
    assert np.array_equal(out, phys)
    assert np.array_equal(flags_out, flags)
    assert counts.size <= 2 * len(pieces)


def _boot_map(name: str) -> PhysMem:
    """Boot a shipped memory map as ``physseg boot`` does (stealing the page array)."""
    plan = plan_boot(load_map(name, None), physseg_max=64, freelists=ATF_FREELISTS)
    mem = PhysMem(physseg_max=64, nfreelist=ATF_FREELISTS.nfreelist)
    for ld in plan.loads:
        mem.load(ld.start_pfn, ld.start_pfn + ld.npages, free_list=ld.free_list)
    mem.boot()
    return mem


def test_a_16_gib_machine_images_in_a_few_kilobytes() -> None:
    mem = _boot_map("desktop-16g")
    pages = mem.stats()["managed_pages"]
    assert pages > 4_000_000
    image = mem.image()
    assert image.nbytes + len(json.dumps(image.meta)) < 8192
    assert PhysMem.from_image(image).snapshot() == mem.snapshot()


# ----------------------------------------------------------------- the store's round trip
def through_the_store(image: KernelImage) -> KernelImage:
    """What the SQLite store does: meta as JSON text, arrays as raw bytes with their dtype and
    shape."""
    text = json.dumps(image.meta)
    blobs = {name: (a.tobytes(), a.dtype.str, a.shape) for name, a in image.arrays.items()}
    arrays = {
        name: np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape)
        for name, (raw, dtype, shape) in blobs.items()
    }
    return KernelImage(json.loads(text), arrays)


@pytest.mark.parametrize("config", [CONFIGS[1], CONFIGS[5]], ids=str)
@_budget(5)
@given(boot_map=BOOT_MAP, boot_ops=BOOT_OPS, init=st.booleans(), run_ops=RUN_OPS)
def test_an_image_through_json_and_raw_bytes_restores_the_same_kernel(
    config: Config,
    boot_map: list[tuple[Any, ...]],
    boot_ops: list[tuple[Any, ...]],
    init: bool,
    run_ops: list[tuple[Any, ...]],
) -> None:
    live, ops = sequence(config, boot_map, boot_ops, init, run_ops)
    for op in ops:
        apply(live.kernel, op)
    if checks(live.kernel) is not None:
        return
    image = live.image()
    stored = through_the_store(image)
    assert stored == image
    twin = PhysMem.from_image(stored)
    assert_same(live, twin)


def test_a_booted_machine_through_json_keeps_its_pages_and_start_hints() -> None:
    mem = PhysMem(physseg_max=4, page_shift=14)
    mem.load(0x100, 0x300, free_list=1)
    mem.load(0x400, 0x500)
    mem.boot()
    PageAllocator(mem).alloc(40)
    mem.unplug(0x180, 0x20)
    mem.set_start_hint(mem.segments()[0], 2**64 - 1)
    twin = PhysMem.from_image(through_the_store(mem.image()))
    assert full_state(twin) == full_state(mem)
    assert twin.image().meta["format"] == IMAGE_FORMAT


# ----------------------------------------------------------------- hostile images
@pytest.mark.parametrize("corruption", CORRUPTIONS, ids=lambda c: c.name)
def test_a_corrupted_image_is_refused_naming_what_is_wrong(corruption: Corruption) -> None:
    with pytest.raises(ImageError) as caught:
        load_image(corrupted(corruption))  # type: ignore[arg-type]
    err = caught.value
    assert err.what.startswith(corruption.blame), str(err)
    assert corruption.because in err.reason, str(err)
    assert str(err) == f"image {err.what}: {err.reason}"


def test_the_table_of_corruptions_is_broad() -> None:
    assert len(CORRUPTIONS) >= 20
    assert len({c.name for c in CORRUPTIONS}) == len(CORRUPTIONS)
    assert {c.blame for c in CORRUPTIONS} >= {"kernel", "arrays", "meta.format"}


SUBPROCESS = textwrap.dedent(
    """
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from support.image_corruptions import CORRUPTIONS, corrupted, rbtree_base, static_base
    from physseg.errors import ImageError
    from physseg.netbsd import load_image

    images = [(c, corrupted(c)) for c in CORRUPTIONS]
    with open("/proc/self/status") as status:
        vm_kb = next(int(l.split()[1]) for l in status if l.startswith("VmSize:"))
    limit = vm_kb * 1024 + (256 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    outcome = {}
    for corruption, image in images:
        try:
            load_image(image)
            outcome[corruption.name] = ["loaded", "", ""]
        except ImageError as exc:
            outcome[corruption.name] = ["ImageError", exc.what, exc.reason]
        except BaseException as exc:
            outcome[corruption.name] = [type(exc).__name__, str(exc), ""]
    print(json.dumps({"limit": limit, "outcome": outcome}))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_corruptions_are_refused_under_an_address_space_limit() -> None:
    """Every corruption again, in a process allowed 256 MiB of address space beyond what it
    uses once its images are built: the 2**60-page slab (and the one just past the bound) are
    refused by the bound, before any allocation, not by a failed one."""
    tests = Path(__file__).resolve().parent
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(tests.parent / "src"), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", SUBPROCESS, str(tests)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)["outcome"]
    for corruption in CORRUPTIONS:
        kind, what, reason = outcome[corruption.name]
        assert kind == "ImageError", (corruption.name, kind, what)
        assert what.startswith(corruption.blame), (corruption.name, what)
        assert corruption.because in reason, (corruption.name, reason)
    assert outcome["slab of 2**60 pages"][1] == "meta.slabs[0].npages"


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)


def _paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*path, key)))
    elif isinstance(node, list):
        for k, value in enumerate(node):
            found.extend(_paths(value, (*path, k)))
    return found


@pytest.mark.parametrize("base", [rbtree_base, static_base], ids=["rbtree", "static"])
@settings(max_examples=max(20, settings.default.max_examples))
@given(data=st.data())
def test_random_damage_is_refused_with_image_error_or_loads_a_checked_kernel(
    base: Callable[[], KernelImage], data: st.DataObject
) -> None:
    meta, arrays = copy_image(base())
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            paths = [p for p in _paths(meta) if p]
            path = data.draw(st.sampled_from(paths))
            node: Any = meta
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = data.draw(JSON_VALUES)
        else:
            name = data.draw(st.sampled_from(sorted(arrays)))
            array = arrays[name]
            if array.size:
                raw = array.view(np.uint8)
                k = data.draw(st.integers(0, raw.size - 1))
                raw[k] ^= np.uint8(1 << data.draw(st.integers(0, 7)))
    try:
        kernel = load_image(KernelImage(meta, arrays))
    except ImageError:
        return
    kernel.check()


# ----------------------------------------------------------------- the face
def test_the_face_round_trip_keeps_coalescing_as_the_caller_asks() -> None:
    mem = PhysMem(coalesce=True)
    mem.load(0x100, 0x200)
    mem.boot()
    for pfn in (0x1F0, 0x1F8):
        mem.unplug(pfn, 8)
    image = mem.image()
    merging = PhysMem.from_image(image, coalesce=True)
    plain = PhysMem.from_image(image)
    assert merging.coalesce and not plain.coalesce
    assert merging.snapshot() == mem.snapshot() == plain.snapshot()
    assert str(mem.plug(0x1F0, 8)) == str(merging.plug(0x1F0, 8)) == "[0x108, 0x1f8)"
    assert str(plain.plug(0x1F0, 8)) == "[0x1f0, 0x1f8)"
    assert merging.snapshot() == mem.snapshot() != plain.snapshot()
    assert full_state(merging) == full_state(mem)


def test_the_face_round_trip_keeps_busy_pages_for_safe_unplug() -> None:
    mem = PhysMem(safe_unplug=True)
    mem.load(0x100, 0x200)
    mem.boot(steal=False)
    busy = PageAllocator(mem).alloc(3)
    twin = PhysMem.from_image(mem.image(), safe_unplug=True)
    assert twin.safe_unplug and PageAllocator(twin).busy_pfns().tolist() == busy.tolist()
    with pytest.raises(PagesBusyError):
        twin.unplug(0x100, 0x10)
    assert PageAllocator(twin).alloc(2).tolist() == PageAllocator(mem).alloc(2).tolist()


def test_a_face_over_a_refused_image_is_not_built() -> None:
    meta, arrays = copy_image(rbtree_base())
    meta["format"] = IMAGE_FORMAT + 1
    with pytest.raises(ImageError, match="newer"):
        PhysMem.from_image(KernelImage(meta, arrays))
