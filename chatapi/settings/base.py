"""Settings shared by every environment.

Every value comes from the environment (django-environ), in the manner of cookiecutter-django.
The embedded defaults (SQLite, a local Redis, the SQL search backend) let the service start with
no configuration at all; ``production.py`` removes the defaults that must never reach production.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from core.schema.probes import PROBE_COMPONENTS, PROBE_PATHS

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

# https://docs.djangoproject.com/en/5.2/ref/settings/#debug
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "applications",
    "chats",
    "messages_app",
    "search",
    "pipeline",
    "events",
]

MIDDLEWARE = [
    # First, so that it times and counts every answer, the other middlewares' included.
    "core.metrics.middleware.HttpMetricsMiddleware",
    "core.request_id.RequestIdMiddleware",
    "core.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatapi.urls"
WSGI_APPLICATION = "chatapi.wsgi.application"
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # Project templates (chatapi/templates: the ReDoc page without external fonts).
        "DIRS": [BASE_DIR / "chatapi" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database
# https://docs.djangoproject.com/en/5.2/ref/databases/#mysql-notes
# The embedded default is a SQLite file; DATABASE_URL=mysql://user:pass@host:3306/name for MySQL.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.mysql":
    # utf8mb4 so that emoji round-trip exactly; strict mode so that MySQL rejects what it would
    # otherwise truncate silently.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            "init_command": "SET sql_mode='STRICT_TRANS_TABLES', NAMES utf8mb4",
            "isolation_level": "read committed",
        }
    )
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and IMMEDIATE transactions let the web server and the Celery worker write the same
    # file without "database is locked" errors under load.
    # https://docs.djangoproject.com/en/5.2/ref/databases/#database-is-locked-errors
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis: numbering, idempotency, the Celery broker and Django's cache.
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
# Seconds a Redis call may take before the request fails with 503 instead of hanging.
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=2.0)
# The reserve of the allocator (pipeline.numbering): how far a counter may run ahead of what SQL
# holds, so how many rows of one chat (or chats of one application) may wait to be persisted
# before creates answer 503 backlog_full, and how far numbers jump after Redis lost or may have
# lost increments (a restart, a failover, a flush). Larger rides out longer database outages on
# a hot chat; smaller leaves smaller gaps.
REDIS_RESTART_NUMBER_GAP = env.int("REDIS_RESTART_NUMBER_GAP", default=10000)
# Prefix of every key this service writes, so that several deployments can share one Redis.
REDIS_KEY_PREFIX = env("REDIS_KEY_PREFIX", default="chatapi")
# Redis Cluster: host:port,host:port,... of some of its nodes. Set, the numbering, the journal,
# idempotency and the dead letters use redis-py's RedisCluster; Django's cache (and the rate
# limits in it) stays on REDIS_URL, a standalone Redis, and the broker must be RabbitMQ or a
# standalone Redis (neither django-redis nor kombu has a cluster client). Unset: REDIS_URL
# serves everything.
REDIS_CLUSTER_NODES = env.list("REDIS_CLUSTER_NODES", default=[])
# The pipeline's keys are split into this many partitions, each under one hash tag ({pN}), so
# that every script and transaction touches one cluster slot: an application's counters, its
# Idempotency-Keys, and its share of the journal and the dead letters. Set it once: changing it
# moves applications between partitions (their counters are then reseeded, with a jump of the
# reserve, and the first worker to connect, or `manage.py drain_journal`, moves the pending rows
# and dead letters to their new partitions; stop the API while you change it).
REDIS_PARTITIONS = env.int("REDIS_PARTITIONS", default=256)

# Live events (docs/events.md). Each partition keeps its recent events in a Redis stream capped
# at about this many entries (MAXLEN ~): a cursor older than that gets a `reset`. 0 turns the
# events off (the create then appends nothing; the stream endpoints still answer).
EVENTS_STREAM_MAXLEN = env.int("EVENTS_STREAM_MAXLEN", default=10000)
# A comment line at least this often on an idle stream, for proxies that cut silent connections.
EVENTS_KEEPALIVE_SECONDS = env.float("EVENTS_KEEPALIVE_SECONDS", default=15.0)
# The `retry:` a stream sets: how long EventSource waits before it reconnects.
EVENTS_RETRY_MS = env.int("EVENTS_RETRY_MS", default=2000)
# Streams one stream process serves at most, and of these at most so many for one application;
# beyond either, 429.
EVENTS_MAX_STREAMS_PER_PROCESS = env.int("EVENTS_MAX_STREAMS_PER_PROCESS", default=12000)
EVENTS_MAX_STREAMS_PER_APPLICATION = env.int("EVENTS_MAX_STREAMS_PER_APPLICATION", default=1000)
# Events waiting to be written to one client before it is cut off with a `reset` (a client
# that cannot keep up never slows the others).
EVENTS_CLIENT_QUEUE = env.int("EVENTS_CLIENT_QUEUE", default=1000)
# How long one blocking read of a partition's stream waits before it is issued again.
EVENTS_READ_BLOCK_MS = env.int("EVENTS_READ_BLOCK_MS", default=5000)

# https://github.com/jazzband/django-redis#configure-as-cache-backend
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": REDIS_KEY_PREFIX,
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
        },
    }
}

# Celery
# https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A task is acknowledged only after it ran, and a task whose worker died is given back to the
# queue: together they make "a 201 is never lost" survive a SIGKILL. Both need idempotent tasks.
# https://docs.celeryq.dev/en/stable/userguide/tasks.html#Task.acks_late
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = env.int("CELERY_WORKER_PREFETCH_MULTIPLIER", default=4)
# Which broker the URL names: Redis (the default, the same server as REDIS_URL) or RabbitMQ
# (amqp://user:password@host:5672/vhost). Each transport gets only the options it knows:
# kombu hands broker_transport_options to the transport's client as keyword arguments
# (kombu/transport/pyamqp.py: ``establish_connection``; kombu/transport/redis.py).
_BROKER_SCHEME = CELERY_BROKER_URL.partition("://")[0]
BROKER_IS_REDIS = _BROKER_SCHEME in {"redis", "rediss", "sentinel"}
BROKER_IS_AMQP = _BROKER_SCHEME in {"amqp", "amqps", "pyamqp"}
# With the Redis transport an unacknowledged message goes back to the queue once this many
# seconds have passed; it must exceed the longest task including its retry countdown.
# RabbitMQ needs no such timeout: it requeues what a consumer held as soon as its connection
# closes (README, "RabbitMQ as the broker").
# https://docs.celeryq.dev/en/stable/getting-started/backends-and-brokers/redis.html#visibility-timeout
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=300)
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if BROKER_IS_REDIS:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
        "socket_timeout": REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
        "global_keyprefix": f"{REDIS_KEY_PREFIX}:celery:",
    }
# kombu's Redis transport with one fix: a channel whose close fails because Redis is gone still
# ends closed, instead of crashing the worker on its next close (core/broker.py has the
# cause, read in kombu's source). Other brokers (amqp://...) keep kombu's own transport.
if CELERY_BROKER_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "core.broker:Transport"
if BROKER_IS_AMQP:
    # Publisher confirms: each publish waits for RabbitMQ's basic.ack, so a message the broker
    # refused or lost before taking it raises in the publisher (and is retried by the publish
    # retry policy below) instead of vanishing. py-amqp reads it from the transport options
    # (amqp/connection.py ``confirm_publish``; kombu/transport/pyamqp.py, "Publisher confirms").
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True}
    # AMQP heartbeats on the worker's connections (Celery's default is 120 s; RabbitMQ takes
    # the smaller of the two proposals, its own default being 60): a dead worker host is noticed,
    # and what it held requeued, after about two missed beats. Producers (gunicorn) send none
    # (py-amqp negotiates 0 when the client asks for 0); a publish on a connection that was cut
    # meanwhile fails and the retry policy reconnects.
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-heartbeat
    CELERY_BROKER_HEARTBEAT = env.int("CELERY_BROKER_HEARTBEAT", default=30)
    # Seconds to open a connection (Celery's default 4): as long as a Redis call may take, so
    # that a create's publish to an unreachable broker fails as fast with either broker.
    CELERY_BROKER_CONNECTION_TIMEOUT = env.float(
        "CELERY_BROKER_CONNECTION_TIMEOUT", default=REDIS_SOCKET_TIMEOUT
    )
# Keep reconnecting to the broker, at start-up and after a loss, for as long as it takes
# (Celery's default gives up after 100 attempts and stops the worker).
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-connection-max-retries
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# When the broker connection is lost, tasks running with acks_late are stopped: their ack can
# no longer reach the broker, which hands them out again (Redis after CELERY_VISIBILITY_TIMEOUT,
# RabbitMQ at once) whatever they do, and they are idempotent. Celery 6's default; unset (or
# False), Celery 5 logs a deprecation warning at every connection loss.
# https://docs.celeryq.dev/en/stable/userguide/configuration.html#worker-cancel-long-running-tasks-on-connection-loss
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Publishing from a request must not hang on a dead broker: the journal (pipeline.journal) keeps
# the accepted row, and beat queues it again once the broker is back. For every transport.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Counters: how often Celery beat recomputes chats_count / messages_count of what changed, and
# how often it recomputes every row as a safety net.
COUNTS_REFRESH_SECONDS = env.int("COUNTS_REFRESH_SECONDS", default=60)
COUNTS_FULL_SWEEP_SECONDS = env.int("COUNTS_FULL_SWEEP_SECONDS", default=3600)
# How old an accepted-but-unpersisted chat or message must be before beat queues it again.
# Persistence: the journal (pipeline.journal) is written to SQL by drain tasks, in batches.
# Rows per transaction; a batch is also what one claim takes out of the journal.
PERSIST_BATCH_SIZE = env.int("PERSIST_BATCH_SIZE", default=500)
# How long a drain owns what it claimed; a drain that died gives it up when this runs out.
PERSIST_LEASE_SECONDS = env.int("PERSIST_LEASE_SECONDS", default=30)
# How long one drain task runs before it hands over to a fresh one (less than the lease).
PERSIST_DRAIN_SECONDS = env.int("PERSIST_DRAIN_SECONDS", default=10)
# A drain that found less than a full batch writes it and stops; the rows accepted after it
# are written by a drain queued this many ms later, in one batch, rather than by a drain
# looping on the few rows each pass finds (which kept a core busy under load). It adds up to
# this much to the time from a 201 to a readable row. 0: loop at once, as before.
PERSIST_PAUSE_AFTER_PARTIAL_MS = env.int("PERSIST_PAUSE_AFTER_PARTIAL_MS", default=100)
# When the database is down, claimed rows are given back to be tried again this much later.
PERSIST_RETRY_SECONDS = env.int("PERSIST_RETRY_SECONDS", default=5)
# A row that fails this many claims for a reason other than an outage becomes a dead letter.
PERSIST_MAX_ATTEMPTS = env.int("PERSIST_MAX_ATTEMPTS", default=10)
# Beat also queues a drain this often, for rows whose lease ran out while nothing was accepted.
JOURNAL_DRAIN_EVERY_SECONDS = env.int("JOURNAL_DRAIN_EVERY_SECONDS", default=5)

CELERY_BEAT_SCHEDULE = {
    "counts-refresh-changed": {
        "task": "pipeline.tasks.counts_refresh_changed_task",
        "schedule": float(COUNTS_REFRESH_SECONDS),
    },
    "counts-refresh-all": {
        "task": "pipeline.tasks.counts_refresh_all_task",
        "schedule": float(COUNTS_FULL_SWEEP_SECONDS),
    },
    "journal-sweep": {
        "task": "pipeline.tasks.journal_sweep_task",
        "schedule": float(JOURNAL_DRAIN_EVERY_SECONDS),
    },
}

# The contract
MESSAGE_BODY_MAX_LENGTH = env.int("MESSAGE_BODY_MAX_LENGTH", default=10_000)
APPLICATION_NAME_MAX_LENGTH = 255
# A request body over 1 MiB is answered 413 (see core.middleware).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

# Requests per application token on the create endpoints, e.g. "600/minute"; unset: no limit.
THROTTLE_CREATE_RATE = env("THROTTLE_CREATE_RATE", default="") or None

# Metrics (core.metrics; docs/metrics.md). GET /metrics takes a staff user's HTTP Basic
# credentials, or this token as "Authorization: Bearer <token>" when it is set (a scraper's).
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# What GET /metrics reads at scrape time besides the processes' instruments, by dotted path.
METRICS_COLLECTORS = ["pipeline.metrics.JournalCollector", "search.metrics.IndexLagCollector"]
# The Celery worker's and beat's own /metrics ports (0: none), on METRICS_ADDR.
# https://prometheus.github.io/client_python/exporting/http/
METRICS_WORKER_PORT = env.int("METRICS_WORKER_PORT", default=0)
METRICS_BEAT_PORT = env.int("METRICS_BEAT_PORT", default=0)
METRICS_ADDR = env.str("METRICS_ADDR", default="127.0.0.1")

# --- Search ------------------------------------------------------------------------------------
# Elasticsearch when ELASTICSEARCH_URL is set, the SQL database otherwise (docs/search.md).
# https://django-elasticsearch-dsl.readthedocs.io/en/latest/settings.html
ELASTICSEARCH_URL = env("ELASTICSEARCH_URL", default="")
# The index (or alias) holding one document per message. Replicas: 0 suits the single-node
# docker-compose cluster (a replica would have nowhere to go); use 1 or more on a real cluster.
ELASTICSEARCH_INDEX = env("ELASTICSEARCH_INDEX", default="chatapi-messages")
ELASTICSEARCH_INDEX_REPLICAS = env.int("ELASTICSEARCH_INDEX_REPLICAS", default=0)
# Seconds a search may wait for Elasticsearch before the endpoint answers 503; bulk indexing by
# the worker and the reindex command allow themselves longer (search.indexing).
ELASTICSEARCH_TIMEOUT = env.float("ELASTICSEARCH_TIMEOUT", default=5.0)
# The client registry of elasticsearch.dsl, configured by django_elasticsearch_dsl at start-up.
# Clients are created lazily, so start-up makes no network call even when the cluster is down;
# with no URL no connection is configured at all (and `search_index` says so if it is run).
ELASTICSEARCH_DSL = (
    {
        "default": {
            "hosts": [ELASTICSEARCH_URL],
            "request_timeout": ELASTICSEARCH_TIMEOUT,
            # One quick retry on another node; the indexing tasks retry with backoff themselves.
            "max_retries": 1,
            "retry_on_timeout": False,
        }
    }
    if ELASTICSEARCH_URL
    else {}
)
# Indexing is explicit (search.indexing, called by the write services after commit) because
# bulk_create fires no signals; BaseSignalProcessor connects no receiver at all, so no model
# save anywhere pays for an autosync that is off.
ELASTICSEARCH_DSL_AUTOSYNC = False
ELASTICSEARCH_DSL_AUTO_REFRESH = False
ELASTICSEARCH_DSL_SIGNAL_PROCESSOR = "django_elasticsearch_dsl.signals.BaseSignalProcessor"
INSTALLED_APPS.append("django_elasticsearch_dsl")
# A longer query is a 400; so is one over the clause limit (search/complexity.py).
SEARCH_QUERY_MAX_LENGTH = env.int("SEARCH_QUERY_MAX_LENGTH", default=1000)
# The SQL backend scans a chat in windows of message numbers (one query each: a quarter of this
# first, then twice the last, up to this), newest first, until the page is full or its time
# budget is spent; a page cut short by the budget says so and its `next` goes on from where it
# stopped (docs/search.md).
SEARCH_SQL_SCAN_WINDOW = env.int("SEARCH_SQL_SCAN_WINDOW", default=20_000)
# The first page of a search spends at most about SEARCH_SQL_TIME_BUDGET_MS scanning; each page
# that follows pages cut short in a row gets 8 times more, up to SEARCH_SQL_TIME_BUDGET_MAX_MS.
SEARCH_SQL_TIME_BUDGET_MS = env.int("SEARCH_SQL_TIME_BUDGET_MS", default=40)
SEARCH_SQL_TIME_BUDGET_MAX_MS = env.int("SEARCH_SQL_TIME_BUDGET_MAX_MS", default=2500)
# Indexing: the outbox (search.models), written with the rows, drained in bulk by tasks on a
# Celery queue of their own, so that a slow or hung engine never holds the workers that persist.
# Every worker the project starts consumes it (scripts/processes.py celery_worker_command).
SEARCH_QUEUE = "search"
CELERY_TASK_ROUTES = {"search.tasks.*": {"queue": SEARCH_QUEUE}}
# Seconds one bulk request (or delete-by-query) of a drain may take before the drain stops and
# leaves its rows for the next one: a hung engine holds a worker process this long at most.
SEARCH_INDEX_TIMEOUT = env.float("SEARCH_INDEX_TIMEOUT", default=5.0)
# Outbox rows per bulk request, and how long one drain task goes on before it hands over.
SEARCH_DRAIN_BATCH = env.int("SEARCH_DRAIN_BATCH", default=1000)
SEARCH_DRAIN_SECONDS = env.float("SEARCH_DRAIN_SECONDS", default=10.0)
# Beat queues a drain this often: what a lost task, a dead worker or an engine outage left
# pending is sent at most this long after the engine answers again.
SEARCH_SWEEP_SECONDS = env.float("SEARCH_SWEEP_SECONDS", default=2.0)
if ELASTICSEARCH_URL:  # the SQL backend has no outbox to sweep
    CELERY_BEAT_SCHEDULE["search-outbox-sweep"] = {
        "task": "search.tasks.outbox_drain_task",
        "schedule": SEARCH_SWEEP_SECONDS,
        # Sweeps queued while no worker consumed are worthless once the next one is due.
        "options": {"expires": SEARCH_SWEEP_SECONDS},
    }
# --- end of Search -------------------------------------------------------------------------------

# Django REST framework
# https://www.django-rest-framework.org/api-guide/settings/
REST_FRAMEWORK = {
    # Applications are addressed by their unguessable token; the API has no user accounts, so
    # no authentication runs (and so no session lookup runs on the hot path).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.JSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "core.negotiation.FirstRendererNegotiation",
    "EXCEPTION_HANDLER": "core.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.autoschema.AutoSchema",
}

# https://drf-spectacular.readthedocs.io/en/latest/settings.html
SPECTACULAR_SETTINGS = {
    "TITLE": "Chat API",
    "DESCRIPTION": (BASE_DIR / "docs" / "openapi-description.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # https://swagger.io/docs/open-source-tools/swagger-ui/usage/configuration/
    "SWAGGER_UI_SETTINGS": {
        "deepLinking": True,
        "displayOperationId": True,
        "defaultModelsExpandDepth": 0,
        "docExpansion": "list",
        "tryItOutEnabled": True,
        "persistAuthorization": True,
    },
    # https://redocly.com/docs/redoc/config
    # The page loads no web fonts (chatapi/templates/chatapi/redoc.html): the system's serve.
    "REDOC_UI_SETTINGS": {
        "expandResponses": "200,201",
        "pathInMiddlePanel": True,
        "theme": {
            "typography": {
                "fontFamily": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
                "headings": {"fontFamily": "system-ui, -apple-system, 'Segoe UI', sans-serif"},
            }
        },
    },
    # Request and response shapes differ by name already (ApplicationCreate, Application).
    "COMPONENT_SPLIT_REQUEST": False,
    # PATCH bodies have serializers of their own (ApplicationPatch, MessagePatch).
    "COMPONENT_SPLIT_PATCH": False,
    # Chat and message numbers in paths (core.converters): positive 64-bit integers. Without
    # this they are documented as strings, and clients (and fuzzers) generate them as such.
    "PATH_CONVERTER_OVERRIDES": {
        "number": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 2**63 - 1}
    },
    # x-displayName: how ReDoc titles a tag in its menu.
    "TAGS": [
        {"name": name, "x-displayName": name.capitalize(), "description": description}
        for name, description in (
            ("applications", "Client applications and their tokens."),
            ("chats", "The chats of an application, numbered from 1."),
            ("messages", "The messages of a chat, numbered from 1."),
            ("search", "Full-text search of a chat's messages."),
            ("operations", "Probes for load balancers and orchestrators."),
        )
    ],
    "APPEND_PATHS": PROBE_PATHS,
    "APPEND_COMPONENTS": PROBE_COMPONENTS,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.schema.hooks.retry_after_headers",
        "core.schema.hooks.security_scheme_descriptions",
    ],
}

# Internationalization
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files, served by WhiteNoise so that the Swagger UI needs no CDN and no extra server.
# https://whitenoise.readthedocs.io/en/stable/django.html
STATIC_URL = "static/"
STATIC_ROOT: Path | None = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# Logging
# https://docs.djangoproject.com/en/5.2/topics/logging/
# LOG_LEVEL: of our own lines and Django's (default INFO). Celery writes a line per task and
# per beat tick ("Task ... received", "succeeded", "Sending due task"): a drain every few
# seconds, for ever; those loggers stay at WARNING unless LOG_LEVEL is set. LOG_FORMAT=json:
# one JSON object per line (python-json-logger). Every line carries the request id and shows
# no application token in full (core.logs).
LOG_LEVEL = env("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env("LOG_FORMAT", default="plain").lower()
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}")
_QUIET_TASKS = "LOG_LEVEL" not in env.ENVIRON
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "core.logs.RequestIdFilter"},
        "redact_tokens": {"()": "core.logs.TokenRedactingFilter"},
        "beat_ticks": {"()": "core.logs.BeatTicksFilter"},
    },
    "formatters": {
        "plain": {"()": "core.logs.plain_formatter"},
        "json": {"()": "core.logs.json_formatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id", "redact_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default configuration gives "django" a console handler of its own while
        # DEBUG is on (chatapi.settings.local): its lines would bypass our filters and print a
        # token in full. Configured here, "django" has no handler and its lines reach ours.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        # "Task ... received" and "Task ... succeeded": INFO lines only.
        "celery.worker.strategy": {"level": "WARNING" if _QUIET_TASKS else LOG_LEVEL},
        "celery.app.trace": {"level": "WARNING" if _QUIET_TASKS else LOG_LEVEL},
        # Beat's own start and errors stay; only its line per due task goes.
        "celery.beat": {"filters": ["beat_ticks"] if _QUIET_TASKS else []},
    },
}
