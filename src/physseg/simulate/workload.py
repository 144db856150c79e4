"""A seeded memory user, so that the simulated drivers meet pages in use.

The guest's applications are one :class:`Workload`: it holds pages from a
:class:`physseg.pagealloc.PageAllocator`, moving its holding toward a demand that random-walks
between two fractions of the usable pages, and every step it churns a share of its pages
(frees random ones, allocates as many anew), which scatters what it holds over memory, as
long-running programs do. Pages it holds are ``PG_BUSY``: a safe unplug must refuse them.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from physseg.pagealloc import PageAllocator, Pfns

DEFAULT_DEMAND: Final = (0.2, 0.6)
"""Fractions of the usable pages the demand wanders between."""
DEFAULT_DRIFT: Final = 0.03
"""Largest change of the demand fraction in one step."""
DEFAULT_CHURN: Final = 0.02
"""Share of the held pages freed and allocated again every step."""


class Workload:
    """Holds pages of ``pages`` toward ``demand`` (a fraction of free + held pages).

    ``rng`` makes it repeatable. All allocations are partial: when memory runs short the
    workload simply holds less.
    """

    __slots__ = ("churn", "demand", "drift", "fraction", "held", "pages", "rng")

    def __init__(
        self,
        pages: PageAllocator,
        rng: np.random.Generator,
        *,
        demand: tuple[float, float] = DEFAULT_DEMAND,
        drift: float = DEFAULT_DRIFT,
        churn: float = DEFAULT_CHURN,
    ) -> None:
        if not 0.0 <= demand[0] <= demand[1] <= 1.0:
            raise ValueError(f"Workload: demand {demand} must be fractions, low <= high")
        self.pages = pages
        self.rng = rng
        self.demand = demand
        self.drift = drift
        self.churn = churn
        self.fraction = float(rng.uniform(*demand))
        self.held: Pfns = np.empty(0, dtype=np.int64)

    def step(self, free_pages: int) -> None:
        """One step: move the demand, churn, then allocate or free toward the demand given
        ``free_pages`` free now. O(held pages), vectorised."""
        low, high = self.demand
        self.fraction = float(
            np.clip(self.fraction + self.rng.uniform(-self.drift, self.drift), low, high)
        )
        recycled = int(self.held.size * self.churn)
        if recycled:
            self._release(recycled)
            self._take(recycled)
        want = int(self.fraction * (free_pages + self.held.size))
        if want > self.held.size:
            self._take(want - self.held.size)
        elif want < self.held.size:
            self._release(self.held.size - want)

    def _take(self, npages: int) -> None:
        got = self.pages.alloc(npages, partial=True)
        self.held = np.concatenate([self.held, got])

    def _release(self, npages: int) -> None:
        chosen = self.rng.choice(self.held.size, size=npages, replace=False)
        self.pages.free(self.held[chosen])
        self.held = np.delete(self.held, chosen)
