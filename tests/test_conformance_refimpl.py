"""The conformance harness on physseg's own C implementation (csrc/ref/psc_ref.c, built with
the system compiler through the harness's content-hashed cache): the reference passes the ATF
scenarios and random call sequences in three configurations, and every one of its six
mutants (one planted bug each) is caught, shrunk to a reproduction of at most ten calls that
the reference itself runs without a divergence. This is the CI check of the harness that
needs no NetBSD source tree (issue 15)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from physseg.conformance.check import Checker, ConfigReport, Divergence, check
from physseg.conformance.config import Config
from physseg.conformance.targets import MUTANTS, reference_target

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler (gcc)")

PASSING_CONFIGS = ("rbtree-max32-bsearch", "rbtree-max2-bigfirst", "rbtree-max1-random")
SEQUENCES = 300
"""Random sequences per configuration: about 1,500 calls each, a few seconds on 2 cores."""
MUTANT_CONFIG = Config.parse("rbtree-max32-bsearch")
MUTANT_SEQUENCES = 300
"""An upper bound: the search stops at a mutant's first divergence."""
HANG_TIMEOUT = 10.0
"""Seconds a call may take before it is a hang; no call of the reference comes near."""
MAX_REPRO_CALLS = 10


@pytest.fixture(scope="module", autouse=True)
def build_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Builds go to a fresh cache, so a stale build of another revision cannot be loaded."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHYSSEG_CACHE_DIR", str(tmp_path_factory.mktemp("conformance-cache")))
        yield


def _unexplained(report: ConfigReport) -> list[Divergence]:
    return [d for d in report.divergences if d.explained_by is None]


@pytest.mark.parametrize("name", PASSING_CONFIGS)
def test_reference_implementation_conforms(name: str) -> None:
    config = Config.parse(name)
    report = check(reference_target(config), SEQUENCES, seed=0, hang_timeout=HANG_TIMEOUT)

    assert "psc_ref.c" in report.implementation
    assert report.scenarios > 0
    assert report.sequences >= SEQUENCES or report.divergences
    assert _unexplained(report) == []


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_is_caught_with_a_short_reproduction(mutant: str) -> None:
    target = reference_target(MUTANT_CONFIG, mutant)
    report = check(target, MUTANT_SEQUENCES, seed=0, hang_timeout=HANG_TIMEOUT)

    assert f"MUTANT {MUTANTS[mutant]}" in report.implementation
    caught = _unexplained(report)
    assert caught, f"mutant {mutant} passed {report.sequences} sequences"
    shortest = min(caught, key=lambda d: len(d.calls))
    assert len(shortest.calls) <= MAX_REPRO_CALLS
    assert "psc_" in shortest.reproduction()
    reference = Checker(reference_target(MUTANT_CONFIG), HANG_TIMEOUT)
    assert reference.lockstep(shortest.calls, "reference", counted=False) is None
