"""physseg.bench.workloads and physseg.bench.impls: the load test's layouts and address
distributions, the case registry and profiles, and every implementation looking up."""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import pytest

from physseg.bench.impls import IMPLS, Chunk, Impl, resolve_impls
from physseg.bench.workloads import (
    BUILDS,
    CASES,
    GROUPS,
    MIB,
    PAPER,
    QUICK,
    LookupCase,
    MutationCase,
    build_kernel,
    resolve_cases,
)
from physseg.core.pages import Page
from physseg.errors import KernelPanic
from physseg.netbsd import Kernel

SEED = 11


def lookup_case(name: str) -> LookupCase:
    case = CASES[name]
    assert isinstance(case, LookupCase)
    return case


@pytest.mark.parametrize("build", ["static-bsearch", "static-random", "rbtree"])
def test_fixed_case_loads_32_adjacent_8_page_segments(build: str) -> None:
    k = build_kernel(lookup_case("100"), build, SEED)
    spans = sorted((s.start, s.end) for s in k.segments())
    assert spans == [(pfn, pfn + 8) for pfn in range(0, 256, 8)]
    assert not k.uvm.page_init_done


@pytest.mark.parametrize(
    ("name", "segments"), [("1MB", 33), ("64MB", 33), ("128MB", 4065), ("256MB", 8161)]
)
def test_fragmentation_cases_build_the_tests_segment_counts(name: str, segments: int) -> None:
    case = lookup_case(name)
    k = build_kernel(case, "rbtree", SEED)
    assert k.uvm_physseg_get_entries() == segments == case.segments
    assert k.uvm.page_init_done
    assert k.seg(k.uvm_physseg_get_first()).end == 256


def test_honest_cases_fragment_a_segment_of_the_promised_size() -> None:
    case = lookup_case("real-64MB")
    assert case.b_pages << 12 == 64 * MIB
    k = build_kernel(case, "rbtree", SEED)
    assert k.uvm_physseg_get_entries() == 1 + 64 * MIB // 4096 // 8 == case.segments
    assert lookup_case("real-4GB").segments == 1 + 4096 * MIB // 4096 // 8


def test_the_layout_is_the_same_for_every_run_of_a_seed() -> None:
    a = build_kernel(lookup_case("1MB"), "rbtree", SEED)
    b = build_kernel(lookup_case("1MB"), "rbtree", SEED)
    assert [(s.start, s.end) for s in a.segments()] == [(s.start, s.end) for s in b.segments()]


def test_fixed_and_fragmented_cases_run_on_their_builds() -> None:
    lookup_cases = [case for case in CASES.values() if isinstance(case, LookupCase)]
    for case in lookup_cases:
        assert case.builds == (tuple(BUILDS) if case.kind == "fixed" else ("rbtree",)), case.name
    assert lookup_case("1K").builds == ("static-bsearch", "static-random", "rbtree")
    assert lookup_case("256MB").builds == ("rbtree",)
    for build in lookup_case("1K").builds:
        assert build_kernel(lookup_case("1K"), build, SEED).uvm_physseg_get_entries() == 32
    with pytest.raises(KernelPanic):  # why only the rbtree: the static build cannot hot-plug
        build_kernel(lookup_case("1MB"), "static-bsearch", SEED)


@pytest.mark.parametrize(
    ("name", "low", "high"),
    [
        ("100", 0, MIB),
        ("1MB", MIB, 2 * MIB),
        ("64MB", 2 * MIB, 4 * MIB),
        ("128MB", MIB, 128 * MIB),
        ("256MB", MIB, 257 * MIB),
        ("real-64MB", MIB, 65 * MIB),
    ],
)
def test_addresses_follow_the_tests_formula(name: str, low: int, high: int) -> None:
    pa = lookup_case(name).addresses(np.random.default_rng(1), 20_000)
    assert pa.dtype == np.uint64
    assert low <= int(pa.min()) and int(pa.max()) < high
    assert int(pa.max()) > high - (high - low) // 100  # the whole range is used


def test_the_256mb_bug_puts_lookups_past_the_end_of_memory() -> None:
    case = lookup_case("256MB")
    pa = case.addresses(np.random.default_rng(2), 50_000)
    past = np.count_nonzero(pa >= np.uint64(256 * MIB))
    assert 0 < past < 50_000 // 100  # about 1/256 of them
    assert "bug" in case.note


def test_mutation_case_holes_put_back_leave_the_layout_as_it_was() -> None:
    case = CASES["mutate-1K"]
    assert isinstance(case, MutationCase)
    k, holes = case.build(np.random.default_rng(3))
    assert k.uvm_physseg_get_entries() == 1000 == len(holes) + 1
    pfn, pages = holes[10]
    assert k.uvm_physseg_plug(pfn, pages)[0]
    assert k.uvm_physseg_get_entries() == 1001
    assert k.uvm_physseg_unplug(pfn, pages)
    assert k.uvm_physseg_get_entries() == 1000


def test_resolve_cases_by_name_group_and_all() -> None:
    assert [c.name for c in resolve_cases("1K,100", QUICK)] == ["100", "1K"]
    assert [c.name for c in resolve_cases("fragmented", QUICK)] == list(GROUPS["fragmented"])
    assert len(resolve_cases("all", QUICK)) == len(CASES)
    assert [c.name for c in resolve_cases(" 1K , 1K ,", QUICK)] == ["1K"]


def test_resolve_cases_defaults_to_the_profile() -> None:
    assert [c.name for c in resolve_cases(None, QUICK)] == list(QUICK.cases)
    assert [c.name for c in resolve_cases(None, PAPER)] == list(CASES)


def test_resolve_cases_rejects_unknown_and_empty_lists() -> None:
    with pytest.raises(ValueError, match="unknown case '2M'"):
        resolve_cases("2M", QUICK)
    with pytest.raises(ValueError, match="no case"):
        resolve_cases(",", QUICK)


def test_profiles_have_the_papers_sizes() -> None:
    assert PAPER.runs == 100
    assert PAPER.lookups == 10**7
    assert "100M" in PAPER.cases and "mutate-1M" in PAPER.cases
    assert "100M" not in QUICK.cases


def test_resolve_impls() -> None:
    assert [i.name for i in resolve_impls(None)] == list(IMPLS)
    assert [i.name for i in resolve_impls("rbtree,fast-rbtree")] == ["rbtree", "fast-rbtree"]
    with pytest.raises(ValueError, match="unknown implementation 'splay'"):
        resolve_impls("splay,rbtree")
    with pytest.raises(ValueError, match="no implementation"):
        resolve_impls(" , ")


LOOKUP_CALL: Final = {
    "kernel": "uvm_physseg_get_pg",
    "per-call": "PHYS_TO_VM_PAGE",
    "batch": "phys_to_vm_pages",
}
"""The kernel method answering each style's lookups (see physseg.bench.impls): the kernel
searches end in ``uvm_physseg_get_pg`` for every hit, the fast paths make one call per address
(per call) or per chunk (batch)."""


def run_recording(
    impl: Impl, kernel: Kernel, chunk: Chunk, monkeypatch: pytest.MonkeyPatch
) -> list[Any]:
    """Run ``impl`` over ``chunk`` on ``kernel``; returns every answer of its lookup call."""
    answers: list[Any] = []
    original = getattr(kernel, LOOKUP_CALL[impl.style])

    def recording(*args: Any) -> Any:
        answer = original(*args)
        answers.append(answer)
        return answer

    monkeypatch.setattr(kernel, LOOKUP_CALL[impl.style], recording)
    impl.runner(kernel)(chunk)
    monkeypatch.undo()
    return answers


def managed(kernel: Kernel, chunk: Chunk) -> list[bool]:
    """Whether each address of ``chunk`` lies in a segment (the kernel's own search)."""
    return [kernel.uvm_physseg_find(pa >> kernel.PAGE_SHIFT)[1] is not None for pa in chunk.values]


def slab_entry(page: Page | None) -> tuple[int, int] | None:
    return None if page is None else (page.slab.ident, page.index)


@pytest.mark.parametrize(
    ("name", "case_name"),
    [(name, "1K") for name, impl in IMPLS.items() if not impl.in_c]
    + [(name, "1MB") for name, impl in IMPLS.items() if impl.build == "rbtree" and not impl.in_c],
)
def test_every_implementation_looks_up_a_chunk(
    name: str, case_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    impl = IMPLS[name]
    case = lookup_case(case_name)
    k = build_kernel(case, impl.build, SEED)
    array = case.addresses(np.random.default_rng(4), 500)
    chunk = Chunk(array, array.tolist())

    answers = run_recording(impl, k, chunk, monkeypatch)

    hits = managed(k, chunk)
    pages = [k.PHYS_TO_VM_PAGE(pa) for pa in chunk.values]  # what a lookup of each must answer
    assert any(hits)
    if impl.style == "kernel":  # one get_pg per address found, in chunk order
        assert answers == [page for page, hit in zip(pages, hits, strict=True) if hit]
    if impl.style == "per-call":
        assert answers == pages
        assert len(k.lookup.memo) > 0
    if impl.style == "batch":
        (batch,) = answers
        assert batch.hit.tolist() == hits
        found = [
            None if slab < 0 else (slab, index)
            for slab, index in zip(batch.slab.tolist(), batch.index.tolist(), strict=True)
        ]
        assert found == [slab_entry(page) for page in pages]
        assert k.lookup.current_table is not None


def test_every_build_is_timed_through_the_same_kernel_entry_point() -> None:
    searches = {name: impl for name, impl in IMPLS.items() if impl.style == "kernel"}
    assert set(searches) == {"static-bsearch", "static-random", "rbtree"}
    k = build_kernel(lookup_case("1K"), "static-bsearch", SEED)
    chunk = Chunk(np.array([0], dtype=np.uint64), [0])
    for impl in searches.values():
        impl.runner(k)(chunk)  # any build's kernel: the runner asks nothing of the build


@pytest.mark.parametrize("name", ["static-bsearch", "rbtree"])
def test_the_kernel_search_implementation_finds_pages_after_boot(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = lookup_case("1MB")
    k = build_kernel(case, "rbtree", SEED)
    array = case.addresses(np.random.default_rng(5), 300)
    chunk = Chunk(array, array.tolist())

    found = run_recording(IMPLS[name], k, chunk, monkeypatch)

    hits = managed(k, chunk)
    assert 0 < len(found) == sum(hits) < len(chunk.values)  # the holes of B are misses
    assert None not in found  # after boot every segment has its page array
    expected = [k.PHYS_TO_VM_PAGE(pa) for pa, hit in zip(chunk.values, hits, strict=True) if hit]
    assert found == expected
    assert [page.phys_addr for page in found] == [
        pa >> k.PAGE_SHIFT << k.PAGE_SHIFT
        for pa, hit in zip(chunk.values, hits, strict=True)
        if hit
    ]
