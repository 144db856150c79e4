"""Run-time statistics as the paper's Tables 1-4 report them.

For R timed runs of one case: the average, the minimum and maximum, the population standard
deviation (what the paper tabulates) and the 95% margin of error of the average,
``t(0.975, R-1) · s / √R`` with ``s`` the sample standard deviation (Student's t: honest for the
few runs of the quick profile, within 1% of the normal 1.96 from 100 runs on).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final

__all__ = ["Summary", "percent_difference", "summarize", "t_critical"]

_T975: Final = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
"""Two-sided 95% critical values of Student's t for 1..30 degrees of freedom."""
_Z975: Final = 1.959964
"""The normal distribution's 97.5th percentile."""


def t_critical(df: int) -> float:
    """Student's t 97.5th percentile for ``df`` degrees of freedom (two-sided 95%).

    Tabulated for 1..30 (3 decimals); above, the Cornish-Fisher expansion in 1/df, within
    0.001 of the exact value. Raises ``ValueError`` for ``df < 1``.

    >>> t_critical(4), t_critical(99) > 1.98, round(t_critical(10**6), 3)
    (2.776, True, 1.96)
    """
    if df < 1:
        raise ValueError(f"t_critical needs at least 1 degree of freedom, not {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True, slots=True)
class Summary:
    """Statistics of ``runs`` samples (seconds, or any unit the samples are in).

    ``margin`` is the 95% margin of error of ``mean`` (0 for a single run: unknown).
    """

    runs: int
    mean: float
    minimum: float
    maximum: float
    pstdev: float
    stdev: float
    margin: float

    def as_dict(self) -> dict[str, float | int]:
        """The fields as a JSON-ready dict."""
        return asdict(self)

    def scaled(self, factor: float) -> Summary:
        """The same statistics with every sample multiplied by ``factor`` (> 0)."""
        return Summary(
            self.runs,
            self.mean * factor,
            self.minimum * factor,
            self.maximum * factor,
            self.pstdev * factor,
            self.stdev * factor,
            self.margin * factor,
        )


def summarize(samples: Sequence[float]) -> Summary:
    """Average, min, max, population and sample standard deviation and 95% margin of error
    of ``samples``. O(R). Raises ``ValueError`` for no samples.

    >>> s = summarize([1.0, 2.0, 3.0, 4.0])
    >>> s.mean, s.pstdev, round(s.stdev, 4), round(s.margin, 4)
    (2.5, 1.118033988749895, 1.291, 2.054)
    """
    runs = len(samples)
    if runs == 0:
        raise ValueError("summarize needs at least one sample")
    mean = math.fsum(samples) / runs
    squares = math.fsum((x - mean) ** 2 for x in samples)
    pstdev = math.sqrt(squares / runs)
    stdev = math.sqrt(squares / (runs - 1)) if runs > 1 else 0.0
    margin = t_critical(runs - 1) * stdev / math.sqrt(runs) if runs > 1 else 0.0
    return Summary(runs, mean, min(samples), max(samples), pstdev, stdev, margin)


def percent_difference(base: float, other: float) -> float:
    """How much slower ``other`` is than ``base``, in percent of ``base`` (negative: faster):
    the paper's "R-B tree 5.59% slower" is ``percent_difference(static, rbtree)``. Raises
    ``ValueError`` when ``base`` is not positive.

    >>> round(percent_difference(8.0, 8.4472), 2)
    5.59
    """
    if base <= 0:
        raise ValueError(f"percent_difference needs a positive base, not {base}")
    return (other - base) / base * 100.0
