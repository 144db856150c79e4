"""The live C comparator of ``physseg bench``: a C implementation of the conformance ABI
(``conformance/csrc/physseg_conformance.h``), built on this machine, replays a case's layout
in a forked child and times ``psc_bench_lookup`` over the very addresses the Python
implementations look up, chunk by chunk, inside the runner's interleaved runs.

Which C: given a NetBSD source tree, NetBSD's ``uvm_physseg.c`` built with physseg's shims (R-B
tree and static builds); otherwise physseg's own C implementation of the ABI
(``csrc/ref/psc_ref.c``, R-B tree semantics only, not NetBSD's code). A case's C build has
``VM_PHYSSEG_MAX`` = the next power of two >= its segments (a boot pool that holds them all)
and strategy bsearch; every build is made (or taken from the cache) before the first case runs.

The child of one case replays the case's kernel (``segment_columns()``: spans, avail windows,
free lists, in the kernel's order): ``psc_boot``; ``psc_physload`` of every segment (of the
first one only above :data:`BOOT_LOAD_LIMIT` segments); ``psc_page_init`` with as many pages as
the spans hold; ``psc_plug`` of the segments not loaded at boot. Then it answers requests, n
addresses in, the nanoseconds ``psc_bench_lookup`` measured (``CLOCK_MONOTONIC``, in C) and the
thread CPU time around the call out. A
panic, a KASSERT, a signal, an exit or a time limit ends the child; the comparator raises
:class:`~physseg.errors.CComparatorError` and the benchmark goes on without it.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import struct
import time
import traceback
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from physseg.bench.reference import CReference
from physseg.bench.workloads import BUILDS
from physseg.conformance.build import BASE_FLAGS, BuildError, compiler
from physseg.conformance.check import Target
from physseg.conformance.clib import CMachine, LoadError
from physseg.conformance.config import Config
from physseg.conformance.pipes import read_all, silence_child, write_all
from physseg.conformance.runner import HARNESS_STATUS, child_ending
from physseg.conformance.targets import TreeError, netbsd_target, reference_target
from physseg.errors import CComparatorError
from physseg.netbsd import Kernel

__all__ = [
    "BOOT_LOAD_LIMIT",
    "LOOKUP_TIMEOUT",
    "OWN_C",
    "REPLAY_TIMEOUT",
    "CLookup",
    "CSide",
    "physseg_max_for",
]

OWN_C: Final = "physseg's own C implementation of the ABI, not NetBSD's code"
"""What the C figures are without ``--netbsd-src`` (``csrc/ref/psc_ref.c``)."""
BOOT_LOAD_LIMIT: Final = 1024
"""Layouts of at most this many segments are loaded at boot, every one with ``psc_physload``.
A boot-time load is O(segments) in NetBSD (``uvm_physseg_plug``'s preload check walks every
segment) and in physseg's own C: loading 131073 segments at boot took 25 s. Larger layouts
load their first segment at boot and hot-plug the others after ``psc_page_init`` (from the
boot slab's spare entries), as the fragmented cases built them; the lookups only see spans."""
REPLAY_TIMEOUT: Final = 600.0
"""Seconds the child may take to boot, load and initialise a layout (131073 segments take
about a second with physseg's own C; a slow implementation must not hang the bench)."""
LOOKUP_TIMEOUT: Final = 120.0
"""Seconds one request (at most ``runner.CHUNK`` lookups, milliseconds in C) may take."""
BUILD_WORKERS: Final = 2
"""Compilers run at once when the builds are prepared (the machine kind has 2 cores)."""
_WORD: Final = struct.Struct("<Q")
_PAIR: Final = struct.Struct("<QQ")
_FAILURES: Final = (BuildError, LoadError, TreeError, OSError, ValueError, ImportError)
"""What preparing a C side may raise: each becomes the one-line reason C is not measured."""


def physseg_max_for(segments: int) -> int:
    """``VM_PHYSSEG_MAX`` of the C build replaying ``segments`` segments: the next power of
    two >= ``segments`` (>= 1). O(1). Raises ``ValueError`` for a negative count.

    >>> [physseg_max_for(n) for n in (1, 32, 33, 8161, 131073)]
    [1, 32, 64, 8192, 262144]
    """
    if segments < 0:
        raise ValueError(f"a segment count is >= 0, not {segments}")
    return 1 << max(0, segments - 1).bit_length()


def _one_line(exc: BaseException) -> str:
    text = exc.output if isinstance(exc, BuildError) else str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


class CSide:
    """The C implementations one benchmark run offers, built up front: per (kernel build,
    ``VM_PHYSSEG_MAX``) a loaded :class:`~physseg.conformance.check.Target`; ``reference``
    names the C (or why there is none)."""

    __slots__ = ("_targets", "builds", "reference")

    def __init__(
        self,
        reference: CReference,
        builds: tuple[str, ...] = (),
        targets: dict[tuple[str, int], Target] | None = None,
    ) -> None:
        self.reference = reference
        self.builds = builds if reference.measured else ()
        self._targets = dict(targets or {})

    @staticmethod
    def builds_of(netbsd_src: Path | None) -> tuple[str, ...]:
        """The kernel builds C can stand beside: the R-B tree and the static array's bsearch
        with a NetBSD tree, the R-B tree alone with physseg's own C. O(1). Raises nothing."""
        return ("rbtree", "static-bsearch") if netbsd_src is not None else ("rbtree",)

    @classmethod
    def prepare(cls, netbsd_src: Path | None, needs: Iterable[tuple[str, int]]) -> CSide:
        """Build (or take from the cache) and load the C library of every (kernel build,
        segments) in ``needs`` that C can stand beside: NetBSD's ``uvm_physseg.c`` from
        ``netbsd_src``, or physseg's own C implementation when it is ``None``. O(builds):
        about half a second a compile, nothing for a cached one. Raises nothing: when a build
        fails (no compiler, a tree without the files, a library without
        ``psc_bench_lookup``) the side offers no build and its reference says why."""
        builds = cls.builds_of(netbsd_src)
        wanted = sorted({(b, physseg_max_for(n)) for b, n in needs if b in builds})
        try:
            with ThreadPoolExecutor(BUILD_WORKERS) as pool:
                loaded = list(pool.map(lambda key: _target(netbsd_src, *key), wanted))
        except _FAILURES as exc:
            which = "NetBSD's uvm_physseg.c" if netbsd_src is not None else OWN_C
            return cls(CReference.not_measured(f"{which}: {_one_line(exc)}"))
        targets = dict(zip(wanted, loaded, strict=True))
        what = OWN_C
        if netbsd_src is not None:
            revision = next((t.revision for t in loaded if t.revision), None)
            what = f"NetBSD C uvm_physseg.c rev {revision or 'unknown'}, built here"
        flags = " ".join(flag for flag in BASE_FLAGS if flag.startswith("-O"))
        return cls(CReference.live(what, f"{compiler()} {flags}"), builds, targets)

    def offers(self, build: str) -> bool:
        """Whether C stands beside the kernel ``build`` in this run. O(1)."""
        return build in self.builds

    def spawn(self, name: str, build: str, segments: int) -> CLookup:
        """A forked child of the C build prepared for ``build`` and ``segments`` segments,
        waiting for its layout (:meth:`CLookup.replay`); ``name`` is the implementation's name
        in the reports. Fork it before the case's kernels are built: the child then shares
        little of this process's memory, and this process's later writes copy few pages.
        O(1). Raises ``KeyError`` for a build or size that was not prepared."""
        return CLookup(name, self._targets[(build, physseg_max_for(segments))])


def _target(netbsd_src: Path | None, build: str, physseg_max: int) -> Target:
    backend, strategy = BUILDS[build]
    config = Config.parse(f"{backend}-max{physseg_max}-{strategy}")
    target = netbsd_target(netbsd_src, config) if netbsd_src else reference_target(config)
    machine = target.machine()
    if not isinstance(machine, CMachine) or not hasattr(machine.dll, "psc_bench_lookup"):
        raise ValueError(f"{target.description} does not export psc_bench_lookup")
    return target


class CLookup:
    """A C library in a forked child: given a layout (:meth:`replay`), it times lookups on
    request (:meth:`time_lookups`). ``replay_s`` is the wall time the layout took (boot, loads,
    page arrays, plugs). Close it (or use it as a context manager) to end the child."""

    __slots__ = ("_abort", "_pid", "_replies", "_requests", "name", "replay_s")

    def __init__(self, name: str, target: Target) -> None:
        self.name = name
        self.replay_s = 0.0
        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        abort_r, abort_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the forked child
            os.close(requests_w)
            os.close(replies_r)
            os.close(abort_r)
            silence_child()
            _serve(target, requests_r, replies_w, abort_w)
        os.close(requests_r)
        os.close(replies_w)
        os.close(abort_w)
        self._pid: int | None = pid
        self._requests = requests_w
        self._replies = replies_r
        self._abort = abort_r

    def replay(self, kernel: Kernel) -> None:
        """Build ``kernel``'s layout in the child (its ``segment_columns()``, in its order).
        O(segments). Raises :class:`~physseg.errors.CComparatorError` when the child fails,
        does not finish within :data:`REPLAY_TIMEOUT` seconds, or was closed."""
        columns = kernel.segment_columns()
        rows = np.stack(
            [
                columns.start,
                columns.end,
                columns.avail_start,
                columns.avail_end,
                columns.free_list,
            ],
            axis=1,
        ).astype(np.uint64)
        started = time.perf_counter()
        self._send("replay", rows)
        self._receive("replay", REPLAY_TIMEOUT)  # (0, 0): the layout is in place
        self.replay_s = time.perf_counter() - started

    @property
    def pid(self) -> int | None:
        """The child's process id; ``None`` once it is closed or has failed. O(1)."""
        return self._pid

    def __enter__(self) -> CLookup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def time_lookups(self, addresses: npt.NDArray[np.uint64]) -> tuple[int, int]:
        """``(cpu_ns, wall_ns)`` the C library took for one ``PHYS_TO_VM_PAGE`` of every
        address (byte addresses): ``wall_ns`` is what ``psc_bench_lookup`` measured in C
        (``CLOCK_MONOTONIC``), ``cpu_ns`` the lesser of it and the child thread's CPU time
        around the call (which leaves out the time other processes held the CPU, as the
        Python series do, at the cost of the call's own overhead, well under a
        microsecond). O(len(addresses)). Raises :class:`~physseg.errors.CComparatorError`
        when the child fails or does not answer within :data:`LOOKUP_TIMEOUT` seconds, or
        was closed."""
        self._send("lookup", addresses)
        wall_ns, thread_ns = self._receive("lookup", LOOKUP_TIMEOUT)
        return min(wall_ns, thread_ns), wall_ns

    def _send(self, stage: str, words: npt.NDArray[np.uint64]) -> None:
        """One request: its row count, then the rows as little-endian 64-bit words."""
        if self._pid is None:
            raise CComparatorError(self.name, stage, "the child was closed")
        data = np.ascontiguousarray(words, dtype="<u8")
        try:
            write_all(self._requests, _WORD.pack(len(data)) + data.tobytes())
        except OSError as exc:
            raise self._failure(stage, f"the child stopped reading ({exc.strerror})") from None

    def close(self) -> None:
        """End the child (a zero-length request) and reap it. O(1). Raises nothing."""
        if self._pid is None:
            return
        try:
            write_all(self._requests, _WORD.pack(0))
        except OSError:
            os.kill(self._pid, signal.SIGKILL)
        os.waitpid(self._pid, 0)
        self._pid = None
        for fd in (self._requests, self._replies, self._abort):
            os.close(fd)

    def _receive(self, stage: str, timeout: float) -> tuple[int, int]:
        deadline = time.monotonic() + timeout
        buffer = b""
        while len(buffer) < _PAIR.size:
            remaining = deadline - time.monotonic()
            ready = select.select([self._replies], [], [], max(0.0, remaining))[0]
            if not ready:
                raise self._failure(stage, f"no answer within {timeout:g} s", kill=True)
            chunk = os.read(self._replies, _PAIR.size - len(buffer))
            if not chunk:
                raise self._failure(stage, "")
            buffer += chunk
        first, second = _PAIR.unpack(buffer)
        return first, second

    def _failure(self, stage: str, detail: str, *, kill: bool = False) -> CComparatorError:
        """Reap the failed child and say what ended it."""
        assert self._pid is not None
        if kill:
            os.kill(self._pid, signal.SIGKILL)
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        message = read_all(self._abort)
        for fd in (self._requests, self._replies, self._abort):
            os.close(fd)
        if not kill:
            detail = _ending(status, message)
        return CComparatorError(self.name, stage, detail)


def _ending(status: int, message: str) -> str:
    """What ended a child, from its wait status and what it wrote on the abort pipe."""
    kind, detail = child_ending(status, message) or ("exit", "exit status 0")
    if kind == "signal":
        return f"killed by {detail}"
    if kind == "harness":
        lines = detail.strip().splitlines()
        return f"harness error: {lines[-1] if lines else 'no detail'}"
    return detail if kind == "exit" else f"{kind}: {detail}"


def _serve(  # pragma: no cover - runs in the forked child
    target: Target, requests: int, replies: int, abort: int
) -> None:
    try:
        if target.set_abort_fd is not None:
            target.set_abort_fd(abort)
        (count,) = _WORD.unpack(_read_exact(requests, _WORD.size))
        words = struct.unpack(f"<{5 * count}Q", _read_exact(requests, 5 * count * _WORD.size))
        spans = [words[i : i + 5] for i in range(0, len(words), 5)]
        machine = target.machine()
        assert isinstance(machine, CMachine)
        dll = machine.dll
        dll.psc_boot()
        boot = spans if len(spans) <= BOOT_LOAD_LIMIT else spans[:1]
        for start, end, avail_start, avail_end, free_list in boot:
            dll.psc_physload(start, end, avail_start, avail_end, free_list)
        dll.psc_page_init(sum(end - start for start, end, *_ in spans))
        handle = ctypes.c_uint64(0)
        for start, end, *_ in spans[len(boot) :]:
            if not dll.psc_plug(start, end - start, ctypes.byref(handle)):
                raise RuntimeError(f"psc_plug({start:#x}, {end - start}) refused")
        write_all(replies, _PAIR.pack(0, 0))
        bench = dll.psc_bench_lookup
        while True:
            (count,) = _WORD.unpack(_read_exact(requests, _WORD.size))
            if count == 0:
                break
            buffer = bytearray(_read_exact(requests, count * _WORD.size))
            addresses = (ctypes.c_uint64 * count).from_buffer(buffer)
            started = time.thread_time_ns()
            elapsed = bench(ctypes.addressof(addresses), count, 1)
            write_all(replies, _PAIR.pack(elapsed, time.thread_time_ns() - started))
    except BaseException:
        write_all(abort, traceback.format_exc().encode(errors="replace"))
        os._exit(HARNESS_STATUS)
    os._exit(0)


def _read_exact(fd: int, size: int) -> bytes:  # pragma: no cover - runs in the child
    parts = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            os._exit(0)  # the parent is gone
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)
