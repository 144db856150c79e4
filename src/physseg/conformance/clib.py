"""The C side of the lockstep: a shared library of the conformance ABI
(``csrc/physseg_conformance.h``) loaded with ctypes, behind the observer's
:class:`~physseg.conformance.observe.Machine` interface.

The harness runtime (``csrc/psc_runtime.c``, which defines ``psc_abort``) is loaded first with
``RTLD_GLOBAL`` so that the implementation's undefined ``psc_abort`` resolves to it. Loading
runs no code of the implementation: its globals stay as the loader made them until a forked
child calls ``psc_boot``.
"""

from __future__ import annotations

import ctypes
from collections.abc import Hashable
from pathlib import Path
from typing import Any, Final

from physseg.conformance.observe import PageState

ABI_VERSION: Final = 1
FUNCTIONS: Final[dict[str, tuple[Any, list[Any]]]] = {
    "psc_abi_version": (ctypes.c_int, []),
    "psc_implementation": (ctypes.c_char_p, []),
    "psc_boot": (None, []),
    "psc_physload": (
        ctypes.c_uint64,
        [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_int32],
    ),
    "psc_plug": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]),
    "psc_unplug": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_uint64]),
    "psc_physunload": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_int32, ctypes.c_void_p]),
    "psc_physunload_force": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_int32, ctypes.c_void_p]),
    "psc_physget": (ctypes.c_int32, [ctypes.c_void_p]),
    "psc_page_init": (None, [ctypes.c_uint64]),
    "psc_find": (ctypes.c_uint64, [ctypes.c_uint64, ctypes.c_void_p]),
    "psc_phys_to_vm_page": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_void_p]),
    "psc_valid": (ctypes.c_int32, [ctypes.c_uint64]),
    "psc_first": (ctypes.c_uint64, []),
    "psc_last": (ctypes.c_uint64, []),
    "psc_next": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_prev": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_start": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_end": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_avail_start": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_avail_end": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_free_list": (ctypes.c_int32, [ctypes.c_uint64]),
    "psc_start_hint": (ctypes.c_uint64, [ctypes.c_uint64]),
    "psc_set_start_hint": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_uint64]),
    "psc_page": (ctypes.c_int32, [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p]),
    "psc_highest_frame": (ctypes.c_uint64, []),
    "psc_counters": (None, [ctypes.c_void_p]),
}
"""Every function the ABI requires: name → (return type, argument types)."""
OPTIONAL: Final[dict[str, tuple[Any, list[Any]]]] = {
    "psc_bench_lookup": (ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64]),
}
"""Functions an implementation may leave out."""


class PscPage(ctypes.Structure):
    """``struct psc_page``."""

    _fields_ = (
        ("slab", ctypes.c_uint64),
        ("index", ctypes.c_uint64),
        ("phys_addr", ctypes.c_uint64),
        ("on_free_list", ctypes.c_int32),
    )


class PscCounters(ctypes.Structure):
    """``struct psc_counters``."""

    _fields_ = (
        ("entries", ctypes.c_int64),
        ("npages", ctypes.c_int64),
        ("physmem", ctypes.c_uint64),
        ("page_init_done", ctypes.c_int32),
    )


class LoadError(Exception):
    """A library that cannot be loaded or lacks part of the ABI: ``path`` and ``detail``."""

    def __init__(self, path: Path, detail: str) -> None:
        super().__init__(path, detail)
        self.path = path
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.path}: {self.detail}"


_runtime: list[ctypes.CDLL] = []
"""The one harness runtime of this process, once loaded."""


def load_runtime(path: Path) -> ctypes.CDLL:
    """The harness runtime, loaded with ``RTLD_GLOBAL`` from ``path`` on the first call and
    the same one on every later call, whatever its ``path``: an implementation's
    ``psc_abort`` resolves to the first runtime loaded, so the abort descriptor must be set
    in that one (two builds of the runtime, from two caches, would otherwise split the symbol
    from the descriptor and lose every abort message). O(1) after the first call. Raises
    :class:`LoadError` when the loader refuses it."""
    if not _runtime:
        try:
            _runtime.append(ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL))
        except OSError as exc:
            raise LoadError(path, str(exc)) from None
    return _runtime[0]


class CLibrary:
    """A loaded implementation of the ABI: ``path``, its ``description`` and the typed
    functions. Loading calls only ``psc_abi_version`` and ``psc_implementation`` (which must
    not touch the implementation's state)."""

    __slots__ = ("description", "dll", "path")

    def __init__(self, path: Path, runtime: Path) -> None:
        load_runtime(runtime)
        try:
            self.dll = ctypes.CDLL(str(path))
        except OSError as exc:
            raise LoadError(path, str(exc)) from None
        missing = [name for name in FUNCTIONS if not hasattr(self.dll, name)]
        if missing:
            raise LoadError(path, f"the ABI functions {', '.join(missing)} are missing")
        for name, (restype, argtypes) in {**FUNCTIONS, **OPTIONAL}.items():
            if hasattr(self.dll, name):
                function = getattr(self.dll, name)
                function.restype = restype
                function.argtypes = argtypes
        version = self.dll.psc_abi_version()
        if version != ABI_VERSION:
            raise LoadError(path, f"ABI version {version}, this harness speaks {ABI_VERSION}")
        raw = self.dll.psc_implementation()
        self.description = raw.decode(errors="replace") if raw else path.name
        self.path = path


class CMachine:
    """A :class:`CLibrary` as a conformance machine; raw handles are the ABI's tokens."""

    __slots__ = ("dll",)

    def __init__(self, library: CLibrary) -> None:
        self.dll = library.dll

    def boot(self) -> None:
        """``psc_boot``."""
        self.dll.psc_boot()

    def physload(self, start: int, end: int, avail_start: int, avail_end: int, fl: int) -> object:
        """``psc_physload``."""
        handle: int = self.dll.psc_physload(start, end, avail_start, avail_end, fl)
        return handle

    def plug(self, pfn: int, pages: int) -> tuple[bool, object]:
        """``psc_plug``."""
        handle = ctypes.c_uint64(0)
        ok = self.dll.psc_plug(pfn, pages, ctypes.byref(handle))
        return bool(ok), handle.value

    def unplug(self, pfn: int, pages: int) -> bool:
        """``psc_unplug``."""
        return bool(self.dll.psc_unplug(pfn, pages))

    def physunload(self, h: Any, fl: int, force: bool) -> tuple[bool, int | None]:
        """``psc_physunload`` or ``psc_physunload_force``."""
        pa = ctypes.c_uint64(0)
        unload = self.dll.psc_physunload_force if force else self.dll.psc_physunload
        ok = bool(unload(h, fl, ctypes.byref(pa)))
        return ok, pa.value if ok else None

    def physget(self) -> tuple[bool, int | None]:
        """``psc_physget``."""
        pa = ctypes.c_uint64(0)
        ok = bool(self.dll.psc_physget(ctypes.byref(pa)))
        return ok, pa.value if ok else None

    def page_init(self, pagecount: int) -> None:
        """``psc_page_init``."""
        self.dll.psc_page_init(pagecount)

    def find(self, pfn: int) -> tuple[object, int | None]:
        """``psc_find``."""
        off = ctypes.c_uint64((1 << 64) - 1)
        handle: int = self.dll.psc_find(pfn, ctypes.byref(off))
        return handle, off.value

    def phys_to_vm_page(self, pa: int) -> PageState | None:
        """``psc_phys_to_vm_page``."""
        page = PscPage()
        if not self.dll.psc_phys_to_vm_page(pa, ctypes.byref(page)):
            return None
        return (page.slab, page.index, page.phys_addr, bool(page.on_free_list))

    def valid(self, h: Any) -> bool:
        """``psc_valid``."""
        return bool(self.dll.psc_valid(h))

    def first(self) -> object:
        """``psc_first``."""
        handle: int = self.dll.psc_first()
        return handle

    def last(self) -> object:
        """``psc_last``."""
        handle: int = self.dll.psc_last()
        return handle

    def next(self, h: Any) -> object:
        """``psc_next``."""
        handle: int = self.dll.psc_next(h)
        return handle

    def prev(self, h: Any) -> object:
        """``psc_prev``."""
        handle: int = self.dll.psc_prev(h)
        return handle

    def field(self, name: str, h: Any) -> int:
        """``psc_<name>``."""
        value: int = getattr(self.dll, f"psc_{name}")(h)
        return value

    def set_start_hint(self, h: Any, hint: int) -> bool:
        """``psc_set_start_hint``."""
        return bool(self.dll.psc_set_start_hint(h, hint))

    def page(self, h: Any, idx: int) -> PageState | None:
        """``psc_page``."""
        page = PscPage()
        if not self.dll.psc_page(h, idx, ctypes.byref(page)):
            return None
        return (page.slab, page.index, page.phys_addr, bool(page.on_free_list))

    def highest_frame(self) -> int:
        """``psc_highest_frame``."""
        value: int = self.dll.psc_highest_frame()
        return value

    def counters(self) -> tuple[int, int, int, bool]:
        """``psc_counters``."""
        c = PscCounters()
        self.dll.psc_counters(ctypes.byref(c))
        return c.entries, c.npages, c.physmem, bool(c.page_init_done)

    def handle_key(self, h: object) -> Hashable:
        """Tokens are compared by value."""
        return h if isinstance(h, int) else repr(h)
