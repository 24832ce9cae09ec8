"""What a scrape answers: every process's instruments, and the collectors that read state at
scrape time, listed by dotted path in ``settings.METRICS_COLLECTORS`` (the engine's journal,
for one: pipeline.metrics.JournalCollector). Named by path so that this library imports
nothing of the project; adding one is one line in the settings.
"""

from functools import cache

from django.conf import settings
from django.utils.module_loading import import_string
from prometheus_client import CollectorRegistry, generate_latest

from core.metrics import multiprocess


@cache
def web_registry() -> CollectorRegistry:
    """The web server's registry: the processes' instruments and the scrape-time collectors."""
    registry = multiprocess.registry()
    for path in settings.METRICS_COLLECTORS:
        registry.register(import_string(path)())
    return registry


def web_exposition() -> bytes:
    """The text format of ``web_registry`` (the 0.0.4 text format, which every Prometheus reads)."""
    return generate_latest(web_registry())
