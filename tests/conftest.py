"""Shared test settings: hypothesis profile, no GPU and no network assumed."""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("joulebook", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "joulebook"))
