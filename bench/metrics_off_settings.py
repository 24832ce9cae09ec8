"""bench/metrics.py's "metrics off" arm: the test settings without the HTTP metrics middleware.

What stays on is the one counter increment of an accepted create (pipeline/accept.py), which
bench/metrics.py times on its own.
"""

from chatapi.settings.test import *  # noqa: F403
from chatapi.settings.test import MIDDLEWARE

MIDDLEWARE = [
    name for name in MIDDLEWARE if name != "core.metrics.middleware.HttpMetricsMiddleware"
]
