"""Prometheus metrics: the instruments (``instruments``), the ``GET /metrics`` view (``views``),
the HTTP middleware (``middleware``), and the set-up of prometheus-client's multiprocess mode
for gunicorn (``gunicorn``) and Celery (``celery``).

Every process of a gunicorn server (or of a Celery worker's prefork pool) writes its values to
files in the directory ``PROMETHEUS_MULTIPROC_DIR`` names; a scrape sums them
(``multiprocess.registry``), so a counter counts every process together, whichever one answers.
https://prometheus.github.io/client_python/multiprocess/
"""
