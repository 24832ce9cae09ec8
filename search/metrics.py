"""The search index's lag as a Prometheus metric, read from the outbox at scrape time.

``IndexLagCollector`` (listed in ``settings.METRICS_COLLECTORS``) answers
``chatapi_search_index_lag_seconds``: the age of the oldest write the index has not received
(search.outbox.index_lag_seconds; 0 on the SQL backend, which needs no index), and
``chatapi_search_outbox_read_ok``, 0 when the database did not answer the scrape.
"""

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.errors import unavailable
from search.outbox import INDEX_LAG_METRIC, index_lag_seconds

logger = logging.getLogger(__name__)


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "chatapi_search_outbox_read_ok",
            "1 when this scrape could read the search outbox, 0 when the database did not answer.",
        ),
        GaugeMetricFamily(
            INDEX_LAG_METRIC,
            "How long the oldest persisted write the search index lacks has waited (0: none).",
        ),
    )


class IndexLagCollector(Collector):
    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Named here so that registering the collector does not query the database.
        yield from _families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        read_ok, lag = _families()
        try:
            seconds = index_lag_seconds()
        except Exception as error:
            if not unavailable(error):
                raise
            logger.warning("metrics: the search outbox could not be read: %s", error)
            read_ok.add_metric([], 0)
            yield read_ok
            return
        read_ok.add_metric([], 1)
        lag.add_metric([], seconds)
        yield from (read_ok, lag)
