"""Lazy page-array columns: one field of a ``vm_page`` array, materialised on first touch.

A :class:`LazyColumn` stands for a 1-D numpy array of ``size`` entries of one dtype without
holding it. Its content is two layers:

* **runs**: sorted, disjoint ``(lo, hi, base, step)`` meaning entry ``i`` in ``[lo, hi)`` is
  ``base + step * (i - lo)`` (wrapping in the dtype), every entry outside a run being 0. A
  segment's ``phys_addr`` is one run of step ``PAGE_SIZE``, its ``free_list`` and ``flags``
  constant runs: ``uvm_physseg_init_seg`` records three runs instead of writing every entry;
* **chunks**: numpy arrays of :data:`CHUNK` entries, made the first time an entry in them is
  written in a way runs cannot say (a single page's flags, a fancy write). A materialised chunk
  shadows the runs over it.

::

    entries   0 ............ 65536 ........... 131072 ......... 196608 ...
    runs      [--- (0, 150000, 0x100000, 4096) ----------]
    chunks                    #1: numpy, written by pagealloc
    read i -> chunk #(i >> 16) if materialised, else the run holding i, else 0

Reads (``col[i]``, ``col[a:b]``, ``col[int array]``) evaluate runs or read chunks; writes of a
scalar or an affine sequence over a range (:func:`column_fill`) and ORs of a constant over a
range of constant runs (:func:`column_or`) stay runs; other writes materialise only the chunks
they touch. Memory is O(runs + materialised chunks * CHUNK) instead of O(size).

The module functions (:func:`column_fill`, :func:`column_or`, :func:`column_first_mismatch`,
:func:`column_bits_set`) take a :data:`Column`, lazy or a plain numpy array (the eager mode),
and give the same answers for both.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from typing import Any, Final, TypeAlias

import numpy as np
import numpy.typing as npt

CHUNK_SHIFT: Final = 16
"""log2 of :data:`CHUNK`. 2**16 entries keep a materialised chunk small (640 KiB for the three
columns of a slab) so that a scattered write touches little memory, while a 64 TiB slab (2**34
entries) still needs at most 2**18 of them; the dict and index overhead per chunk (~200 bytes)
is then 0.003 bytes per entry."""
CHUNK: Final = 1 << CHUNK_SHIFT
"""Entries per materialised chunk."""
_MASK: Final = CHUNK - 1
_FEW_CHUNKS: Final = 8
"""Up to this many materialised chunks a fancy read masks the indices once per chunk
(O(m * chunks), no sort); beyond, it sorts the indices by chunk (O(m log m))."""
_WINDOW: Final = 1 << 20
"""Entries a vectorised step over a long run evaluates at once (bounds temporary memory)."""

Piece: TypeAlias = tuple[int, int, "npt.NDArray[Any] | None", int, int]
"""``(a, b, array, base, step)``: entries ``[a, b)`` are ``array`` (a view into a chunk) or,
when it is None, ``base + step * (i - a)``."""


class LazyColumn:
    """A numpy-like column of ``size`` entries of ``dtype``, all 0 until written.

    ``col[i]`` (a numpy scalar), ``col[a:b]`` and ``col[int array]`` (new arrays) read;
    ``col[key] = value`` writes, ``value`` a scalar or an array of the key's shape. Costs: a
    scalar read O(1) in a materialised chunk, else O(log runs); a read of m entries O(m +
    pieces), where pieces are the runs, gaps and chunks the range meets; a write materialises
    the chunks it touches (O(CHUNK) each, once) unless it is a scalar over a slice, which is a
    run (O(log runs + runs replaced + materialised chunks in the range)). Raises ``IndexError``
    for an index outside ``[-size, size)``, ``TypeError`` for a key that is neither an int, a
    slice nor an integer array, ``ValueError`` for a negative size or a slice step other than 1
    on a write.

    >>> col = LazyColumn(10, np.uint64)
    >>> column_fill(col, 2, 6, 0x1000, 0x1000)
    >>> col[0:7].tolist(), col.materialised_chunks
    ([0, 0, 4096, 8192, 12288, 16384, 0], 0)
    >>> col[3] = 7
    >>> int(col[3]), col.materialised_chunks
    (7, 1)
    """

    __slots__ = (
        "_bases",
        "_chunks",
        "_his",
        "_los",
        "_mat",
        "_steps",
        "_table",
        "dtype",
        "size",
    )

    def __init__(self, size: int, dtype: npt.DTypeLike) -> None:
        if size < 0:
            raise ValueError(f"a column cannot have {size} entries")
        self.size = size
        self.dtype = np.dtype(dtype)
        self._chunks: dict[int, npt.NDArray[Any]] = {}
        self._mat: list[int] = []
        """Materialised chunk numbers, sorted."""
        self._los: list[int] = []
        self._his: list[int] = []
        self._bases: list[int] = []
        """Each run's first value, wrapped into the dtype's range."""
        self._steps: list[int] = []
        self._table: tuple[npt.NDArray[Any], ...] | None = None
        """The runs as numpy arrays for vectorised reads; None when stale."""

    # ----------------------------------------------------------------- numpy-like surface
    @property
    def shape(self) -> tuple[int]:
        """``(size,)``, as a 1-D numpy array's. O(1)."""
        return (self.size,)

    def __len__(self) -> int:
        return self.size

    @property
    def nbytes(self) -> int:
        """Bytes held: materialised chunks plus about 32 bytes per run (in bytes). O(chunks)."""
        return sum(int(a.nbytes) for a in self._chunks.values()) + 32 * len(self._los)

    @property
    def materialised_chunks(self) -> int:
        """How many chunks of :data:`CHUNK` entries hold a numpy array. O(1)."""
        return len(self._chunks)

    @property
    def runs(self) -> list[tuple[int, int, int, int]]:
        """The runs ``(lo, hi, base, step)`` in order (a copy; chunks shadow them). O(runs)."""
        return list(zip(self._los, self._his, self._bases, self._steps, strict=True))

    def __repr__(self) -> str:
        return (
            f"LazyColumn({self.size}, {self.dtype}, runs={len(self._los)},"
            f" chunks={len(self._chunks)})"
        )

    def __array__(self, dtype: Any = None, copy: Any = None) -> npt.NDArray[Any]:
        out = self._range(0, self.size)
        return out if dtype is None else out.astype(dtype)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer):
            return self._scalar(self._index(int(key)))
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.size)
            if step == 1:
                return self._range(lo, max(lo, hi))
            return self._take(np.arange(lo, hi, step, dtype=np.int64))
        return self._take(self._indices(key))

    def __setitem__(self, key: Any, value: Any) -> None:
        if isinstance(key, int | np.integer):
            i = self._index(int(key))
            self._chunk(i >> CHUNK_SHIFT)[i & _MASK] = value
            return
        if isinstance(key, slice):
            lo, hi, step = key.indices(self.size)
            if step != 1:
                raise ValueError("a lazy column writes slices of step 1 only")
            hi = max(lo, hi)
            if np.ndim(value) == 0:
                column_fill(self, lo, hi, int(np.asarray(value).astype(self.dtype)), 0)
                return
            values = np.asarray(value)
            if values.shape != (hi - lo,):
                raise ValueError(f"cannot write {values.shape} values into {hi - lo} entries")
            for c in range(lo >> CHUNK_SHIFT, (hi + _MASK) >> CHUNK_SHIFT):
                a, b = max(lo, c << CHUNK_SHIFT), min(hi, (c + 1) << CHUNK_SHIFT)
                self._chunk(c)[a - (c << CHUNK_SHIFT) : b - (c << CHUNK_SHIFT)] = values[
                    a - lo : b - lo
                ]
            return
        idx = self._indices(key)
        values = np.broadcast_to(np.asarray(value), idx.shape)
        for c, sel in _by_chunk(idx):
            self._chunk(c)[idx[sel] & _MASK] = values[sel]

    # ----------------------------------------------------------------- reads
    def _index(self, i: int) -> int:
        if not -self.size <= i < self.size:
            raise IndexError(f"index {i} is out of bounds for a column of {self.size}")
        return i + self.size if i < 0 else i

    def _indices(self, key: Any) -> npt.NDArray[np.int64]:
        idx = np.asarray(key)
        if idx.dtype.kind not in "iu":
            raise TypeError(f"a lazy column is indexed by ints, slices or int arrays, not {key!r}")
        idx = idx.astype(np.int64, copy=False).ravel()
        if not idx.size:
            return idx
        low, high = int(idx.min()), int(idx.max())
        if low < -self.size or high >= self.size:
            raise IndexError(f"an index is out of bounds for a column of {self.size}")
        return np.where(idx < 0, idx + self.size, idx) if low < 0 else idx

    def _scalar(self, i: int) -> Any:
        chunk = self._chunks.get(i >> CHUNK_SHIFT)
        if chunk is not None:
            return chunk[i & _MASK]
        k = bisect_right(self._los, i) - 1
        if k >= 0 and i < self._his[k]:
            return self._wrap(self._bases[k] + self._steps[k] * (i - self._los[k]))
        return self.dtype.type(0)

    def _wrap(self, value: int) -> Any:
        return self.dtype.type(self._norm(value))

    def _norm(self, value: int) -> int:
        """``value`` wrapped into the dtype's range, as a Python int."""
        bits = self.dtype.itemsize * 8
        value %= 1 << bits
        if self.dtype.kind == "i" and value >> (bits - 1):
            value -= 1 << bits
        return value

    def _range(self, lo: int, hi: int) -> npt.NDArray[Any]:
        out = np.empty(hi - lo, dtype=self.dtype)
        for a, b, array, base, step in self.pieces(lo, hi):
            if array is not None:
                out[a - lo : b - lo] = array
            else:
                out[a - lo : b - lo] = self._evaluate(base, step, b - a)
        return out

    def _evaluate(self, base: int, step: int, n: int) -> npt.NDArray[Any]:
        return _affine(base, step, n, self.dtype)

    def _take(self, idx: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
        out = np.zeros(idx.size, dtype=self.dtype)
        lazy: npt.NDArray[np.intp] | None = None
        if self._mat:
            chunk_of = idx >> CHUNK_SHIFT
            numbers = np.array(self._mat, dtype=np.int64)
            slot = np.minimum(np.searchsorted(numbers, chunk_of), numbers.size - 1)
            held = numbers[slot] == chunk_of
            lazy = np.flatnonzero(~held)
            if numbers.size <= _FEW_CHUNKS:
                for position, c in enumerate(self._mat):
                    mine = np.flatnonzero(held & (slot == position))
                    out[mine] = self._chunks[c][idx[mine] & _MASK]
            else:
                where = np.flatnonzero(held)
                for c, sel in _by_chunk(idx[where]):
                    out[where[sel]] = self._chunks[c][idx[where[sel]] & _MASK]
        if self._los and (lazy is None or lazy.size):
            los, his, bases, steps = self._run_table()
            i = idx if lazy is None else idx[lazy]
            k = np.searchsorted(los, i, side="right") - 1
            inside = k >= 0
            k = np.maximum(k, 0)
            inside &= i < his[k]
            values = bases[k]
            if steps.any():
                values = values + steps[k] * (i - los[k]).astype(np.uint64)
            values = np.where(inside, values, np.uint64(0)).astype(self.dtype)
            if lazy is None:
                out = values
            else:
                out[lazy] = values
        return out

    def _run_table(self) -> tuple[npt.NDArray[Any], ...]:
        if self._table is None:
            self._table = (
                np.array(self._los, dtype=np.int64),
                np.array(self._his, dtype=np.int64),
                np.array([b % (1 << 64) for b in self._bases], dtype=np.uint64),
                np.array([s % (1 << 64) for s in self._steps], dtype=np.uint64),
            )
        return self._table

    def pieces(self, lo: int, hi: int) -> Iterator[Piece]:
        """The entries ``[lo, hi)`` as consecutive pieces (see :data:`Piece`): views into the
        materialised chunks, and runs and gaps (base 0, step 0) elsewhere, the base being the
        piece's first value. O(pieces). Raises nothing (the range must lie in the column)."""
        pos = lo
        while pos < hi:
            c = pos >> CHUNK_SHIFT
            chunk = self._chunks.get(c)
            if chunk is not None:
                end = min(hi, (c + 1) << CHUNK_SHIFT)
                yield pos, end, chunk[pos - (c << CHUNK_SHIFT) : end - (c << CHUNK_SHIFT)], 0, 0
                pos = end
                continue
            m = bisect_right(self._mat, c)
            stop = min(hi, self._mat[m] << CHUNK_SHIFT) if m < len(self._mat) else hi
            k = max(bisect_right(self._los, pos) - 1, 0)
            while pos < stop:
                if k < len(self._los) and self._los[k] <= pos < self._his[k]:
                    end = min(stop, self._his[k])
                    step = self._steps[k]
                    yield pos, end, None, self._bases[k] + step * (pos - self._los[k]), step
                    k += 1
                elif k < len(self._los) and self._los[k] <= pos:
                    k += 1
                    continue
                else:
                    end = min(stop, self._los[k]) if k < len(self._los) else stop
                    yield pos, end, None, 0, 0
                pos = end

    # ----------------------------------------------------------------- writes
    def _chunk(self, c: int) -> npt.NDArray[Any]:
        chunk = self._chunks.get(c)
        if chunk is None:
            lo = c << CHUNK_SHIFT
            chunk = self._range(lo, min(self.size, lo + CHUNK))
            self._chunks[c] = chunk
            insort(self._mat, c)
        return chunk

    def _replace_runs(self, lo: int, hi: int, runs: list[tuple[int, int, int, int]]) -> None:
        """Drop the runs over ``[lo, hi)`` (cutting the ones across its edges) and put ``runs``
        (sorted, inside ``[lo, hi)``) instead. O(log runs + runs moved)."""
        i = bisect_right(self._his, lo)
        j = bisect_left(self._los, hi)
        keep_los, keep_his, keep_bases, keep_steps = [], [], [], []
        if i < j and self._los[i] < lo:
            keep_los.append(self._los[i])
            keep_his.append(lo)
            keep_bases.append(self._bases[i])
            keep_steps.append(self._steps[i])
        for run_lo, run_hi, base, step in runs:
            keep_los.append(run_lo)
            keep_his.append(run_hi)
            keep_bases.append(self._norm(base))
            keep_steps.append(step)
        if i < j and self._his[j - 1] > hi:
            last_lo, step = self._los[j - 1], self._steps[j - 1]
            keep_los.append(hi)
            keep_his.append(self._his[j - 1])
            keep_bases.append(self._norm(self._bases[j - 1] + step * (hi - last_lo)))
            keep_steps.append(step)
        self._los[i:j] = keep_los
        self._his[i:j] = keep_his
        self._bases[i:j] = keep_bases
        self._steps[i:j] = keep_steps
        self._table = None

    def _materialised_in(self, lo: int, hi: int) -> list[int]:
        return self._mat[
            bisect_left(self._mat, lo >> CHUNK_SHIFT) : bisect_left(
                self._mat, (hi + _MASK) >> CHUNK_SHIFT
            )
        ]

    def check(self) -> None:
        """Raise ``AssertionError`` unless the runs are sorted, disjoint, non-empty, inside the
        column and with bases in the dtype's range, and the chunk index matches the chunks.
        O(runs + chunks)."""
        prev = 0
        for lo, hi, base, _ in self.runs:
            assert prev <= lo < hi <= self.size, f"runs: [{lo}, {hi}) after {prev}"
            assert self._norm(base) == base, f"runs: base {base} outside {self.dtype}"
            prev = hi
        assert self._mat == sorted(self._chunks), "chunks: index differs from the chunks"


Column: TypeAlias = "npt.NDArray[Any] | LazyColumn"
"""A page-array column: a plain numpy array (eager) or a :class:`LazyColumn`."""


def _by_chunk(idx: npt.NDArray[np.int64]) -> Iterator[tuple[int, npt.NDArray[np.intp]]]:
    """``(chunk number, positions in idx)`` for every chunk the indices meet. O(m log m)."""
    chunk_of = idx >> CHUNK_SHIFT
    order = np.argsort(chunk_of, kind="stable")
    numbers, starts = np.unique(chunk_of[order], return_index=True)
    bounds = np.append(starts, idx.size)
    for k, c in enumerate(numbers.tolist()):
        yield c, order[bounds[k] : bounds[k + 1]]


def _affine(base: int, step: int, n: int, dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    """``base + step * i`` for ``i`` in ``[0, n)``, wrapped into ``dtype`` (two's complement,
    as C stores it)."""
    if step == 0:
        return np.full(n, base % (1 << 64), dtype=np.uint64).astype(dtype)
    ramp = np.arange(n, dtype=np.uint64)
    ramp *= np.uint64(step % (1 << 64))
    ramp += np.uint64(base % (1 << 64))
    return ramp.astype(dtype)


def column_fill(col: Column, lo: int, hi: int, base: int, step: int) -> None:
    """Entries ``[lo, hi)`` of ``col`` become ``base + step * (i - lo)``, wrapping in the
    dtype. Lazy: one run (none when it is all zeros), written also into the materialised
    chunks it covers; O(log runs + runs replaced + covered chunks * CHUNK). Eager:
    O(hi - lo), vectorised a bounded window at a time. Raises nothing for a range inside the
    column."""
    if hi <= lo:
        return
    if isinstance(col, LazyColumn):
        col._replace_runs(lo, hi, [] if base == 0 and step == 0 else [(lo, hi, base, step)])
        for c in col._materialised_in(lo, hi):
            a, b = max(lo, c << CHUNK_SHIFT), min(hi, (c + 1) << CHUNK_SHIFT)
            chunk = col._chunks[c]
            chunk[a - (c << CHUNK_SHIFT) : b - (c << CHUNK_SHIFT)] = col._evaluate(
                base + step * (a - lo), step, b - a
            )
        return
    for a in range(lo, hi, _WINDOW):
        b = min(hi, a + _WINDOW)
        col[a:b] = _affine(base + step * (a - lo), step, b - a, col.dtype)


def column_or(col: Column, lo: int, hi: int, bits: int) -> None:
    """``col[lo:hi] |= bits``. Lazy: constant runs and gaps stay runs (their value ORed),
    chunks under a run of nonzero step are materialised, materialised chunks are ORed;
    O(pieces + materialised chunks * CHUNK). Eager: O(hi - lo), vectorised. Raises nothing for
    a range inside the column."""
    if hi <= lo:
        return
    if not isinstance(col, LazyColumn):
        col[lo:hi] |= bits
        return
    pieces = list(col.pieces(lo, hi))
    if any(array is None and step != 0 for _, _, array, _, step in pieces):
        for a, b, array, _, step in pieces:
            if array is None and step != 0:
                for c in range(a >> CHUNK_SHIFT, (b + _MASK) >> CHUNK_SHIFT):
                    col._chunk(c)
        pieces = list(col.pieces(lo, hi))
    runs: list[tuple[int, int, int, int]] = []
    for a, b, array, base, _ in pieces:
        if array is not None:
            array |= np.array(bits).astype(col.dtype)
        elif base | bits:
            runs.append((a, b, base | bits, 0))
    col._replace_runs(lo, hi, runs)


def column_first_mismatch(col: Column, lo: int, hi: int, base: int, step: int) -> int:
    """The first ``i`` in ``[lo, hi)`` where ``col[i] != base + step * (i - lo)`` (wrapping in
    the dtype), else -1. Lazy: O(pieces), O(CHUNK) per materialised chunk, nothing
    materialised; eager: O(hi - lo), vectorised a bounded window at a time. Raises nothing
    for a range inside the column."""
    if isinstance(col, LazyColumn):
        for a, b, array, held, held_step in col.pieces(lo, hi):
            want = base + step * (a - lo)
            if array is not None:
                wrong = np.flatnonzero(array != col._evaluate(want, step, b - a))
                if wrong.size:
                    return a + int(wrong[0])
            elif col._norm(held) != col._norm(want):
                return a
            elif col._norm(held_step) != col._norm(step) and b - a > 1:
                return a + 1
        return -1
    for a in range(lo, hi, _WINDOW):
        b = min(hi, a + _WINDOW)
        wrong = np.flatnonzero(col[a:b] != _affine(base + step * (a - lo), step, b - a, col.dtype))
        if wrong.size:
            return a + int(wrong[0])
    return -1


def column_bits_set(col: Column, lo: int, hi: int, bits: int) -> tuple[int, int]:
    """``(first i, count)`` of the entries in ``[lo, hi)`` with ``col[i] & bits`` nonzero;
    ``(-1, 0)`` when none. Lazy: O(pieces) plus O(entries) for materialised chunks and runs of
    nonzero step, nothing materialised; eager O(hi - lo). Raises nothing for a range inside
    the column."""
    first, count = -1, 0
    if isinstance(col, LazyColumn):
        for a, b, array, base, step in col.pieces(lo, hi):
            if array is None and step == 0:
                if base & bits:
                    first = a if first < 0 else first
                    count += b - a
                continue
            for w in range(a, b, _WINDOW):
                e = min(b, w + _WINDOW)
                part = (
                    array[w - a : e - a]
                    if array is not None
                    else col._evaluate(base + step * (w - a), step, e - w)
                )
                hits = np.flatnonzero(part & np.array(bits).astype(col.dtype))
                if hits.size:
                    first = w + int(hits[0]) if first < 0 else first
                    count += int(hits.size)
        return first, count
    for w in range(lo, hi, _WINDOW):
        e = min(hi, w + _WINDOW)
        hits = np.flatnonzero(col[w:e] & bits)
        if hits.size:
            first = w + int(hits[0]) if first < 0 else first
            count += int(hits.size)
    return first, count
