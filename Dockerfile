# syntax=docker/dockerfile:1
#
# The chat API image: one image for the web server, the Celery worker, Celery beat and the
# one-shot migration (docker-compose.yml picks the command).
#
# Two stages so that the compiler and the MySQL headers never reach the runtime image:
# `builder` turns requirements.txt into wheels (mysqlclient is the only one that compiles),
# `runtime` installs those wheels next to the one shared library mysqlclient links against.
#
# Python 3.11 on Debian 12 (bookworm): the same interpreter and the same libmariadb as the
# development machines, so a wheel that works there works here.
# https://hub.docker.com/_/python
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1

# mysqlclient builds against MariaDB Connector/C through pkg-config.
# https://github.com/PyMySQL/mysqlclient#linux
# Debian package versions are not pinned (hadolint DL3008): the base image tag pins the release,
# and an exact version would stop resolving as soon as bookworm ships a security update.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        build-essential \
        pkg-config \
        default-libmysqlclient-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY requirements.txt .
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels -r requirements.txt


FROM ${PYTHON_IMAGE} AS runtime

ENV DJANGO_SETTINGS_MODULE=chatapi.settings.production \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
# prometheus-client's multiprocess mode (core/metrics/multiprocess.py): gunicorn's workers, and a
# Celery worker's pool, count into files here, one directory per container; each server empties
# it when it starts. Writable by `app`: /tmp.
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/chatapi-metrics

# libmariadb3 is the shared library mysqlclient was linked against in the builder (it ships the
# caching_sha2_password plugin that MySQL 8.4 uses by default). Nothing else is installed: the
# health checks in docker-compose.yml use Python's urllib instead of curl.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin app

WORKDIR /app

# Only the wheels built above, never the index: what runs is what the builder built.
# The bind mount keeps /wheels out of every layer of this stage.
COPY requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .

# Static files (Django admin, the Swagger UI assets from drf-spectacular-sidecar) are collected
# once here and served by WhiteNoise. Production settings refuse to load without SECRET_KEY and
# ALLOWED_HOSTS, so this one command gets throwaway values; they are not in any ENV and so not
# in the image. The code stays owned by root (read-only to `app`); only var/ is writable.
RUN SECRET_KEY=build-only ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput \
    && mkdir -p var \
    && chown app:app var

# Numeric, so that a runtime that enforces "non-root" can check it without reading /etc/passwd.
USER 10001:10001

EXPOSE 8000

# A shell, so that ${GUNICORN_WORKERS:-4} expands at start; `exec` then replaces the shell with
# gunicorn, so the SIGTERM of `docker stop` reaches gunicorn itself and it shuts down gracefully.
# No HEALTHCHECK here: the worker, beat and migrate run this image too and serve no HTTP, so each
# service's check lives in docker-compose.yml.
# gthread: each worker serves --threads requests at once, which suits a Redis- and I/O-bound API.
# https://docs.gunicorn.org/en/stable/settings.html
CMD ["sh", "-c", "exec gunicorn chatapi.wsgi:application --bind 0.0.0.0:8000 --workers ${GUNICORN_WORKERS:-4} --worker-class gthread --threads 4 --access-logfile -"]
