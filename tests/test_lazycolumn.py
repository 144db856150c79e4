"""LazyColumn against a plain numpy array: every read and write agrees, in every dtype a page
array uses, with chunks small enough that random operations cross them."""

from __future__ import annotations

import doctest
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import physseg.core.lazycolumn
from physseg.core.lazycolumn import (
    CHUNK,
    LazyColumn,
    column_bits_set,
    column_fill,
    column_first_mismatch,
    column_or,
)
from physseg.netbsd.image import _encode_constant, _encode_progressions

DTYPES = [np.uint64, np.int8, np.uint8]
SIZE = 3 * CHUNK + 77
"""Entries of the columns the machine drives: three chunks and a short last one."""

positions = st.integers(0, SIZE - 1)
values = st.integers(-(1 << 64), (1 << 64) - 1)
small = st.integers(0, 255)
steps = st.sampled_from([0, 1, 4096, 255, -1])


def _wrap(value: int, dtype: Any) -> Any:
    return np.array(value % (1 << 64), dtype=np.uint64).astype(dtype)[()]


def _ramp(n: int, base: int, step: int, dtype: Any) -> Any:
    ramp = np.arange(n, dtype=np.uint64) * np.uint64(step % (1 << 64))
    return (ramp + np.uint64(base % (1 << 64))).astype(dtype)


class LazyAgainstNumpy(RuleBasedStateMachine):
    """Every operation on a LazyColumn and on a numpy array, compared after each step."""

    lazy: LazyColumn
    plain: Any

    @initialize(dtype=st.sampled_from(DTYPES))
    def start(self, dtype: Any) -> None:
        self.lazy = LazyColumn(SIZE, dtype)
        self.plain = np.zeros(SIZE, dtype=dtype)

    @rule(lo=positions, n=st.integers(0, 2 * CHUNK), base=values, step=steps)
    def fill(self, lo: int, n: int, base: int, step: int) -> None:
        hi = min(SIZE, lo + n)
        column_fill(self.lazy, lo, hi, base, step)
        column_fill(self.plain, lo, hi, base, step)
        assert np.array_equal(self.plain[lo:hi], _ramp(hi - lo, base, step, self.plain.dtype))

    @rule(lo=positions, n=st.integers(0, 2 * CHUNK), bits=small)
    def or_range(self, lo: int, n: int, bits: int) -> None:
        hi = min(SIZE, lo + n)
        bits = int(_wrap(bits, self.plain.dtype)) & 0x7F
        column_or(self.lazy, lo, hi, bits)
        self.plain[lo:hi] |= np.array(bits).astype(self.plain.dtype)

    @rule(i=positions, value=small)
    def write_one(self, i: int, value: int) -> None:
        self.lazy[i] = value & 0x7F
        self.plain[i] = value & 0x7F

    @rule(lo=positions, n=st.integers(0, 300), value=small)
    def write_slice_scalar(self, lo: int, n: int, value: int) -> None:
        self.lazy[lo : lo + n] = value & 0x7F
        self.plain[lo : lo + n] = value & 0x7F

    @rule(lo=positions, n=st.integers(0, 300), data=st.data())
    def write_slice_array(self, lo: int, n: int, data: st.DataObject) -> None:
        hi = min(SIZE, lo + n)
        vals = np.array(data.draw(st.lists(small, min_size=hi - lo, max_size=hi - lo)))
        self.lazy[lo:hi] = vals.astype(self.plain.dtype)
        self.plain[lo:hi] = vals.astype(self.plain.dtype)

    @rule(idx=st.lists(positions, max_size=50), clear=small, put=small)
    def fancy_update(self, idx: list[int], clear: int, put: int) -> None:
        picked = np.array(idx, dtype=np.int64)
        dtype = self.plain.dtype
        mask, bits = np.array(clear).astype(dtype), np.array(put & 0x7F).astype(dtype)
        self.lazy[picked] = (self.lazy[picked] & mask) | bits
        self.plain[picked] = (self.plain[picked] & mask) | bits

    @rule(idx=st.lists(st.integers(-SIZE, SIZE - 1), max_size=50))
    def fancy_read(self, idx: list[int]) -> None:
        picked = np.array(idx, dtype=np.int64)
        assert np.array_equal(self.lazy[picked], self.plain[picked])

    @rule(i=st.integers(-SIZE, SIZE - 1))
    def read_one(self, i: int) -> None:
        assert self.lazy[i] == self.plain[i]
        assert type(self.lazy[i]) is type(self.plain[i])

    @rule(lo=st.integers(-SIZE, SIZE), hi=st.integers(-SIZE, SIZE), step=st.sampled_from([1, 3]))
    def read_slice(self, lo: int, hi: int, step: int) -> None:
        assert np.array_equal(self.lazy[lo:hi:step], self.plain[lo:hi:step])

    @rule(lo=positions, n=st.integers(0, 2 * CHUNK), base=values, step=steps)
    def first_mismatch(self, lo: int, n: int, base: int, step: int) -> None:
        hi = min(SIZE, lo + n)
        assert column_first_mismatch(self.lazy, lo, hi, base, step) == column_first_mismatch(
            self.plain, lo, hi, base, step
        )

    @precondition(lambda self: self.lazy.runs)
    @rule(data=st.data())
    def first_mismatch_on_a_run(self, data: st.DataObject) -> None:
        lo, hi, base, step = data.draw(st.sampled_from(self.lazy.runs))
        for a in (lo, (lo + hi) // 2):
            want = base + step * (a - lo)
            got = column_first_mismatch(self.lazy, a, hi, want, step)
            assert got == column_first_mismatch(self.plain, a, hi, want, step)

    @rule(lo=positions, n=st.integers(0, 2 * CHUNK), bits=small)
    def bits_set(self, lo: int, n: int, bits: int) -> None:
        hi = min(SIZE, lo + n)
        bits &= 0x7F
        assert column_bits_set(self.lazy, lo, hi, bits) == column_bits_set(self.plain, lo, hi, bits)

    @invariant()
    def agrees(self) -> None:
        self.lazy.check()
        assert np.array_equal(np.asarray(self.lazy), self.plain)
        assert self.lazy.materialised_chunks <= -(-SIZE // CHUNK)


LazyAgainstNumpy.TestCase.settings = settings(
    max_examples=60, stateful_step_count=25, deadline=None
)
test_a_lazy_column_agrees_with_numpy = LazyAgainstNumpy.TestCase


@given(
    runs=st.lists(
        st.tuples(positions, st.integers(1, CHUNK), st.integers(0, 1 << 40), steps), max_size=8
    )
)
@settings(deadline=None, max_examples=50)
def test_fills_and_ors_materialise_nothing(runs: list[tuple[int, int, int, int]]) -> None:
    col = LazyColumn(SIZE, np.uint64)
    for lo, n, base, step in runs:
        column_fill(col, lo, min(SIZE, lo + n), base, step)
    flags = LazyColumn(SIZE, np.uint8)
    for lo, n, _, _ in runs:
        column_or(flags, lo, min(SIZE, lo + n), 1)
    assert col.materialised_chunks == 0 and flags.materialised_chunks == 0
    col.check()


def test_an_or_over_an_ascending_run_materialises_only_its_chunks() -> None:
    col = LazyColumn(SIZE, np.uint64)
    column_fill(col, 10, 20, 0x1000, 0x1000)
    column_or(col, 0, SIZE, 1)
    assert col.materialised_chunks == 1
    assert col[10] == 0x1001 and col[SIZE - 1] == 1 and col[25] == 1


def test_a_huge_column_reads_and_checks_without_memory() -> None:
    pages = 1 << 34
    col = LazyColumn(pages, np.uint64)
    column_fill(col, 0, pages, 0x100000, 4096)
    assert column_first_mismatch(col, 0, pages, 0x100000, 4096) == -1
    assert column_first_mismatch(col, 5, pages, 0x100000 + 5 * 4096 + 1, 4096) == 5
    assert int(col[pages - 1]) == 0x100000 + (pages - 1) * 4096
    assert col.nbytes < 1024 and col.materialised_chunks == 0


def test_bad_keys_and_sizes_are_refused() -> None:
    col = LazyColumn(10, np.uint8)
    with pytest.raises(IndexError):
        col[10]
    with pytest.raises(IndexError):
        col[np.array([0, 11])]
    with pytest.raises(TypeError):
        col[np.array([0.5])]
    with pytest.raises(ValueError):
        col[0:10:2] = 1
    with pytest.raises(ValueError):
        col[0:4] = np.zeros(3, dtype=np.uint8)
    with pytest.raises(ValueError):
        LazyColumn(-1, np.uint8)
    assert np.array_equal(np.asarray(col), np.zeros(10, dtype=np.uint8))
    assert col.shape == (10,) and len(col) == 10 and "runs=0" in repr(col)


def test_the_module_examples_run() -> None:
    assert doctest.testmod(physseg.core.lazycolumn).failed == 0


@given(
    dtype=st.sampled_from([np.uint64, np.uint8]),
    writes=st.lists(
        st.tuples(
            st.sampled_from(["fill", "one", "or"]),
            positions,
            st.integers(0, CHUNK // 2),
            st.sampled_from([0, 1, 4096, 8192, (1 << 64) - 4096]),
            st.sampled_from([0, 4096, 1, 3]),
        ),
        max_size=12,
    ),
)
@settings(deadline=None, max_examples=60)
def test_an_image_encodes_a_lazy_column_as_its_numpy_twin(
    dtype: Any, writes: list[tuple[str, int, int, int, int]]
) -> None:
    col = LazyColumn(SIZE, dtype)
    for kind, lo, n, base, step in writes:
        hi = min(SIZE, lo + n)
        if kind == "fill":
            column_fill(col, lo, hi, base, step)
        elif kind == "one":
            col[lo] = base & 0xFF
        else:
            column_or(col, lo, hi, 1)
    plain = np.asarray(col)
    for lazy, eager in [
        (_encode_progressions(col, 4096), _encode_progressions(plain, 4096)),
        (_encode_constant(col), _encode_constant(plain)),
    ]:
        for got, want in zip(lazy, eager, strict=True):
            assert np.array_equal(got, want) and got.dtype == want.dtype


@pytest.mark.parametrize(
    "runs",
    [
        [(0, 10, 0, 4096), (10, 20, 40960, 0)],  # a constant one step above an ascending run
        [(0, 10, 4096, 0), (10, 20, 8192, 4096)],  # an ascending run one step above a constant
        [(0, 10, 0, 4096), (10, 11, 40960, 0), (11, 20, 40960, 0)],
        [(5, 6, 4096, 0), (6, 7, 8192, 0), (7, 9, 12288, 0), (9, 30, 0, 4096)],
        [(0, CHUNK + 3, 4096, 4096), (CHUNK + 3, CHUNK + 9, 4096 * (CHUNK + 4), 0)],
    ],
)
def test_an_image_finds_breaks_next_to_run_edges(runs: list[tuple[int, int, int, int]]) -> None:
    col = LazyColumn(SIZE, np.uint64)
    for lo, hi, base, step in runs:
        column_fill(col, lo, hi, base, step)
    for got, want in zip(
        _encode_progressions(col, 4096), _encode_progressions(np.asarray(col), 4096), strict=True
    ):
        assert np.array_equal(got, want)


@given(
    touched=st.lists(st.integers(0, 19), min_size=9, max_size=20, unique=True),
    idx=st.lists(st.integers(0, 20 * CHUNK - 1), min_size=1, max_size=200),
)
@settings(deadline=None, max_examples=20)
def test_a_fancy_read_over_many_chunks_agrees_with_numpy(
    touched: list[int], idx: list[int]
) -> None:
    col = LazyColumn(20 * CHUNK, np.uint64)
    column_fill(col, 5, 20 * CHUNK - 5, 0x1000, 0x1000)
    for c in touched:
        col[c * CHUNK + 7] = c
    assert col.materialised_chunks == len(touched)
    picked = np.array(idx, dtype=np.int64)
    assert np.array_equal(col[picked], np.asarray(col)[picked])
