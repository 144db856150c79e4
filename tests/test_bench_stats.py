"""physseg.bench.stats against hand-computed values."""

from __future__ import annotations

import doctest
import math

import pytest

import physseg.bench.stats
from physseg.bench.stats import Summary, percent_difference, summarize, t_critical

SAMPLES = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]
"""Mean 5, squared deviations summing to 32: population deviation 2, sample s = sqrt(32/7)."""


def test_summary_of_the_textbook_sample() -> None:
    s = summarize(SAMPLES)
    assert s.runs == 8
    assert s.mean == 5.0
    assert (s.minimum, s.maximum) == (2.0, 9.0)
    assert s.pstdev == 2.0
    assert s.stdev == pytest.approx(math.sqrt(32 / 7))
    assert s.margin == pytest.approx(2.365 * math.sqrt(32 / 7) / math.sqrt(8))


def test_a_single_run_has_no_spread_and_no_known_margin() -> None:
    s = summarize([3.5])
    assert (s.mean, s.pstdev, s.stdev, s.margin) == (3.5, 0.0, 0.0, 0.0)


def test_no_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_t_critical_table_and_expansion() -> None:
    assert t_critical(1) == 12.706
    assert t_critical(30) == 2.042
    assert t_critical(31) == pytest.approx(2.0395, abs=1e-3)
    assert t_critical(99) == pytest.approx(1.9842, abs=1e-3)
    assert t_critical(120) == pytest.approx(1.9799, abs=1e-3)
    assert t_critical(10**9) == pytest.approx(1.96, abs=1e-3)


def test_t_critical_needs_a_degree_of_freedom() -> None:
    with pytest.raises(ValueError, match="degree"):
        t_critical(0)


def test_percent_difference_reproduces_the_papers_headline() -> None:
    assert percent_difference(8.0, 8.4472) == pytest.approx(5.59)
    assert percent_difference(2.0, 1.0) == -50.0


def test_percent_difference_needs_a_positive_base() -> None:
    with pytest.raises(ValueError, match="positive"):
        percent_difference(0.0, 1.0)


def test_scaling_a_summary_scales_every_statistic() -> None:
    s = summarize(SAMPLES).scaled(10.0)
    assert (s.mean, s.minimum, s.maximum, s.pstdev) == (50.0, 20.0, 90.0, 20.0)
    assert s.margin == pytest.approx(summarize(SAMPLES).margin * 10)
    assert s.runs == 8


def test_summary_as_dict_names_every_field() -> None:
    assert summarize([1.0, 3.0]).as_dict() == {
        "runs": 2,
        "mean": 2.0,
        "minimum": 1.0,
        "maximum": 3.0,
        "pstdev": 1.0,
        "stdev": math.sqrt(2),
        "margin": pytest.approx(12.706 * math.sqrt(2) / math.sqrt(2)),
    }
    assert isinstance(summarize([1.0]), Summary)


def test_docstring_examples() -> None:
    assert doctest.testmod(physseg.bench.stats).failed == 0
