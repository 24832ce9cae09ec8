"""gunicorn's settings file, read from the working directory by every gunicorn started here.

scripts/run.sh, the Docker image (WORKDIR /app), the tests and the benchmark all start gunicorn
from the root of the repository, so all of them get these; options on a command line win.
https://docs.gunicorn.org/en/stable/settings.html#config-file
"""

from core.metrics import gunicorn as metrics

# Redacts application tokens in the access log; LOG_FORMAT=json writes JSON lines.
logger_class = "chatapi.gunicorn_logging.Logger"
# gunicorn's default access line, plus the request id we answered (X-Request-ID).
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %({x-request-id}o)s'
)

# prometheus-client's multiprocess mode: every worker counts into PROMETHEUS_MULTIPROC_DIR (a fresh
# temporary directory when it is not set), emptied once at start; a worker that exits has its
# live gauges dropped. https://prometheus.github.io/client_python/multiprocess/
metrics.directory_ensure()
on_starting = metrics.on_starting
child_exit = metrics.child_exit
on_exit = metrics.on_exit
