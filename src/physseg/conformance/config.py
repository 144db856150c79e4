"""The build configurations the conformance check runs: the compile-time knobs of
``uvm_physseg.c`` (``UVM_HOTPLUG``, ``VM_PHYSSEG_MAX``, ``VM_PHYSSEG_STRAT``) and the model
kernel that stands for each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from physseg.netbsd import Kernel, make_kernel
from physseg.netbsd.constants import STRATEGIES

BACKENDS: Final = ("rbtree", "static")
"""``rbtree`` is ``UVM_HOTPLUG`` defined; ``static`` the ``vm_physmem[]`` array."""
PHYSSEG_MAXES: Final = (1, 2, 32)
STRATEGY_NAMES: Final = ("random", "bsearch", "bigfirst")
NFREELIST: Final = 4
"""``VM_NFREELIST`` of every build (free lists 0..3, ``VM_FREELIST_DEFAULT`` 0)."""
PAGE_SHIFT: Final = 12


@dataclass(frozen=True, slots=True)
class Config:
    """One build: ``hotplug`` (``UVM_HOTPLUG`` defined: the rbtree build; else the static
    array), ``physseg_max`` (``VM_PHYSSEG_MAX``, >= 1) and ``strategy``
    (``random``/``bsearch``/``bigfirst``)."""

    hotplug: bool
    physseg_max: int
    strategy: str

    def __post_init__(self) -> None:
        if not isinstance(self.physseg_max, int) or self.physseg_max < 1:
            raise ValueError(f"physseg_max must be an int >= 1, not {self.physseg_max!r}")
        if self.strategy not in STRATEGY_NAMES:
            raise ValueError(f"strategy must be one of {STRATEGY_NAMES}, not {self.strategy!r}")

    @property
    def backend(self) -> str:
        """``rbtree`` with ``UVM_HOTPLUG``, else ``static``. O(1)."""
        return BACKENDS[0] if self.hotplug else BACKENDS[1]

    @property
    def name(self) -> str:
        """``rbtree-max32-bsearch``: what tables, JSON and ``--config`` call it. O(1)."""
        return f"{self.backend}-max{self.physseg_max}-{self.strategy}"

    @property
    def strat(self) -> int:
        """``VM_PHYSSEG_STRAT``: ``VM_PSTRAT_RANDOM`` 1, ``BSEARCH`` 2, ``BIGFIRST`` 3. O(1)."""
        return STRATEGIES[self.strategy]

    def defines(self) -> list[str]:
        """The compiler's ``-D`` flags for this build: ``PSC_UVM_HOTPLUG`` (1/0),
        ``PSC_VM_PHYSSEG_MAX`` and ``PSC_VM_PHYSSEG_STRAT``. O(1)."""
        return [
            f"-DPSC_UVM_HOTPLUG={int(self.hotplug)}",
            f"-DPSC_VM_PHYSSEG_MAX={self.physseg_max}",
            f"-DPSC_VM_PHYSSEG_STRAT={self.strat}",
        ]

    def kernel(self) -> Kernel:
        """A fresh model kernel of this build (4 KiB pages, four free lists). O(1)."""
        return make_kernel(
            self.backend, self.physseg_max, self.strategy, NFREELIST, PAGE_SHIFT, lazy_pages=False
        )

    @classmethod
    def parse(cls, name: str) -> Config:
        """The configuration called ``name`` (``rbtree-max32-bsearch``). O(1). Raises
        ``ValueError`` for a name not of that form."""
        parts = name.split("-")
        if (
            len(parts) != 3
            or parts[0] not in BACKENDS
            or not parts[1].startswith("max")
            or not parts[1][3:].isdigit()
        ):
            raise ValueError(f"a configuration is rbtree|static-maxN-STRATEGY, not {name!r}")
        return cls(parts[0] == BACKENDS[0], int(parts[1][3:]), parts[2])


ALL_CONFIGS: Final = tuple(
    Config(hotplug, physseg_max, strategy)
    for hotplug in (True, False)
    for physseg_max in PHYSSEG_MAXES
    for strategy in STRATEGY_NAMES
)
"""The 18 builds: both backends, ``VM_PHYSSEG_MAX`` 1, 2 and 32, and the three strategies."""
