"""Fixtures for the port of NetBSD's ATF tests (``tests/sys/uvm/t_uvm_physseg*.c``).

ATF runs every test case in a fresh process whose globals start zeroed and then calls
``setup()``; here every test gets a fresh :class:`physseg.netbsd.Kernel`, which starts in the
state ``setup()`` leaves. The kernel is built in one of these configurations:

* ``rbtree-max1``: the ``UVM_HOTPLUG`` build with ``VM_PHYSSEG_MAX == 1``, what the ATF Makefile
  ships (the ``#if VM_PHYSSEG_MAX > 1`` branches are compiled out, several cases expect aborts);
* ``rbtree-max32``: the same build with ``VM_PHYSSEG_MAX == 32`` (every branch compiled in);
* ``static-bsearch``, ``static-random``, ``static-bigfirst``: the pre-hotplug ``vm_physmem[]``
  build with ``VM_PHYSSEG_MAX == 32`` and the named ``VM_PHYSSEG_STRAT``.

Fixtures: ``config``/``kernel`` run a test on all five; ``rbtree_config``/``rbtree_kernel`` on
the two rbtree ones (cases that use the rbtree build's internals); ``expect_fail`` is
``atf_tc_expect_fail()``: from the point it is called, the test must fail (strict xfail).
The module also holds the ATF file's constants and the small helpers the test files share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from physseg import KernelAssertionError, KernelPanic
from physseg.netbsd import Kernel, RBTreeKernel, StaticKernel
from physseg.netbsd.segment import Segment, SlabExtent

ABORT = (KernelPanic, KernelAssertionError)
"""What ``atf_tc_expect_signal(SIGABRT, ...)`` waits for: a panic or a failed KASSERT."""

Handle = Segment | int | None
"""A ``uvm_physseg_t``: the record (rbtree build, ``None`` = NULL) or an index (static build)."""
Span = tuple[int, int, int, int]
"""``(start, end, avail_start, avail_end)`` in PFNs."""

# The ATF file's segments: 1 MiB each and adjacent (its "+1 byte" vanishes in atop()).
PFN_1: Span = (0, 256, 0, 256)
PFN_2: Span = (256, 512, 256, 512)
PFN_3: Span = (512, 768, 512, 768)
PFN_4: Span = (768, 1024, 768, 1024)


def physload(k: Kernel, span: Span, free_list: int = 0) -> Handle:
    """``uvm_page_physload`` of ``span`` on ``free_list``; returns the handle."""
    handle: Handle = k.uvm_page_physload(*span, free_list)
    return handle


def fields(k: Kernel, upm: Handle) -> Span:
    """The four PFN getters of ``upm``, in ``Span`` order."""
    return (
        k.uvm_physseg_get_start(upm),
        k.uvm_physseg_get_end(upm),
        k.uvm_physseg_get_avail_start(upm),
        k.uvm_physseg_get_avail_end(upm),
    )


def taken(k: Kernel, result: tuple[bool, int | None]) -> int:
    """The PFN an ``(ok, paddr)`` unload result reports; asserts that the unload succeeded."""
    ok, pa = result
    assert ok
    assert pa is not None
    return k.atop(pa)


def boot_slot(k: RBTreeKernel) -> Segment:
    """``uvm_physseg_alloc(sizeof(struct uvm_physseg))``: one record (a pool slot at boot)."""
    seg = k.uvm_physseg_alloc(k.SIZEOF_UVM_PHYSSEG)
    assert seg is not None
    return seg


def ext_of(seg: Segment) -> SlabExtent:
    """The slab extent of ``seg``, which must have one."""
    assert seg.ext is not None
    return seg.ext


@dataclass(frozen=True, slots=True)
class Config:
    """One build of the kernel the ATF cases are run against."""

    ident: str
    backend: str
    physseg_max: int
    strategy: str

    @property
    def static(self) -> bool:
        """Whether this is the static-array (non-``UVM_HOTPLUG``) build."""
        return self.backend == "static"

    def kernel(self) -> Kernel:
        """A fresh kernel in the state the ATF ``setup()`` leaves (4 free lists, 4 KiB pages)."""
        build: type[Kernel] = RBTreeKernel if self.backend == "rbtree" else StaticKernel
        return build(
            backend=self.backend,
            physseg_max=self.physseg_max,
            strategy=self.strategy,
            nfreelist=4,
            page_shift=12,
        )


RBTREE_MAX1 = Config("rbtree-max1", "rbtree", 1, "bsearch")
RBTREE_MAX32 = Config("rbtree-max32", "rbtree", 32, "bsearch")
STATIC_BSEARCH = Config("static-bsearch", "static", 32, "bsearch")
STATIC_RANDOM = Config("static-random", "static", 32, "random")
STATIC_BIGFIRST = Config("static-bigfirst", "static", 32, "bigfirst")

RBTREE_CONFIGS = [RBTREE_MAX1, RBTREE_MAX32]
ALL_CONFIGS = [*RBTREE_CONFIGS, STATIC_BSEARCH, STATIC_RANDOM, STATIC_BIGFIRST]


def _ident(config: Config) -> str:
    return config.ident


@pytest.fixture(params=ALL_CONFIGS, ids=_ident)
def config(request: pytest.FixtureRequest) -> Config:
    """Every configuration: both rbtree ones and the three static strategies."""
    cfg: Config = request.param
    return cfg


@pytest.fixture
def kernel(config: Config) -> Kernel:
    """A fresh kernel built as ``config`` says."""
    return config.kernel()


@pytest.fixture(params=RBTREE_CONFIGS, ids=_ident)
def rbtree_config(request: pytest.FixtureRequest) -> Config:
    """The rbtree (``UVM_HOTPLUG``) configurations only, ``VM_PHYSSEG_MAX`` 1 and 32."""
    cfg: Config = request.param
    return cfg


@pytest.fixture
def rbtree_kernel(rbtree_config: Config) -> RBTreeKernel:
    """A fresh rbtree kernel built as ``rbtree_config`` says."""
    k = rbtree_config.kernel()
    assert isinstance(k, RBTreeKernel)
    return k


ExpectFail = Callable[..., None]


@pytest.fixture
def expect_fail(request: pytest.FixtureRequest) -> ExpectFail:
    """``atf_tc_expect_fail(reason)``: the rest of the test must fail, else the test fails.

    The failure must be an ``AssertionError`` (a failed check), or one of ``raises`` if given;
    anything else is reported as an error as usual.
    """

    def apply(reason: str, raises: tuple[type[BaseException], ...] = (AssertionError,)) -> None:
        request.applymarker(pytest.mark.xfail(strict=True, raises=raises, reason=reason))

    return apply
