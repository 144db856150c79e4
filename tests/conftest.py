"""Suite-wide test configuration: the hypothesis profiles.

Two profiles are registered:

* ``ci`` (the default): hypothesis' default budget of 100 examples and 50 stateful steps, no
  per-example deadline (the CI machine is shared, timings vary). The whole suite stays well
  under ten minutes on two cores.
* ``long``: twenty times the examples and twice the steps, for deep runs before a release or
  after touching the engine: ``pytest --hypothesis-profile=long`` (the option comes with
  hypothesis' pytest plugin) or ``PHYSSEG_HYPOTHESIS_PROFILE=long pytest``.

Tests that need a budget of their own derive it from ``settings.default`` (the loaded profile)
instead of hard-coding counts, so ``long`` deepens them too.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

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
