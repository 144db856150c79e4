"""Suite-wide test configuration: the hypothesis profiles.

Two profiles are registered:

* ``ci`` (the default): hypothesis' default budget of 100 examples and 50 stateful steps, no
  per-example deadline (the CI machine is shared, timings vary). The whole suite stays well
  under ten minutes on two cores.
* ``long``: twenty times the examples and twice the steps, for deep runs before a release or
  after touching the engine: ``pytest --hypothesis-profile=long`` (the option comes with
  hypothesis' pytest plugin) or ``PHYSSEG_HYPOTHESIS_PROFILE=long pytest``.

The ``page_mode`` fixture runs a module with lazy, then eager, page arrays.

Tests that need a budget of their own derive it from ``settings.default`` (the loaded profile)
instead of hard-coding counts, so ``long`` deepens them too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from physseg import PhysMem
from physseg.netbsd import Kernel, load_image, make_kernel

PROFILE_ENV = "PHYSSEG_HYPOTHESIS_PROFILE"
"""Environment variable naming the profile to load when ``--hypothesis-profile`` is not given."""

settings.register_profile(
    "ci",
    max_examples=100,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile(
    "long",
    max_examples=2000,
    stateful_step_count=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get(PROFILE_ENV, "ci"))


EAGER_SHARE = 3
"""The eager page mode runs the stateful model tests with a third of the lazy mode's examples:
lazy is the default and the harder representation (runs and chunks); eager, plain numpy, is
kept in agreement by these runs and by test_model_compare's lazy-vs-eager lockstep. Running both
at full budget made the suite 3 minutes longer."""


def mode_examples(examples: int, page_mode: str) -> int:
    """The stateful budget ``examples`` for ``page_mode``: all of it for lazy, a third
    (at least 5) for eager."""
    return examples if page_mode == "lazy" else max(5, examples // EAGER_SHARE)


@pytest.fixture(scope="module", params=["lazy", "eager"])
def page_mode(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a module's tests twice: with lazy page arrays, then with eager ones. Every
    constructor of a kernel (``Kernel``, ``make_kernel``, ``PhysMem``, ``PhysMem.from_image``,
    ``load_image``) gets ``lazy_pages`` of the mode as its default for the module's duration,
    so the tests need not pass it. Module-scoped, so hypothesis sees no function-scoped
    fixture. Use with ``pytestmark = pytest.mark.usefixtures("page_mode")``."""
    lazy = request.param == "lazy"
    constructors: list[Any] = [
        Kernel.__init__,
        make_kernel,
        PhysMem.__init__,
        PhysMem.from_image.__func__,  # type: ignore[attr-defined]
        load_image,
    ]
    saved = [dict(function.__kwdefaults__) for function in constructors]
    for function in constructors:
        function.__kwdefaults__ = {**function.__kwdefaults__, "lazy_pages": lazy}
    try:
        yield request.param
    finally:
        for function, defaults in zip(constructors, saved, strict=True):
            function.__kwdefaults__ = defaults
