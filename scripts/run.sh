#!/usr/bin/env bash
# Run the whole service on this machine: the API (gunicorn, on WEB_PORT), the stream process of
# the live events (gunicorn with uvicorn workers, on EVENTS_PORT), a Celery worker, Celery beat
# and nginx on PORT, the one port clients use: it sends the events paths to the stream process
# and everything else to the API (scripts/proxy.py).
#
#   scripts/run.sh            (or: make run)
#
# On a fresh Debian 12 machine it installs nginx and what mysqlclient needs to build (apt, as
# root), creates .venv, installs requirements.txt, checks that the three ports are free, starts
# a local Redis when none answers, checks that the database can be opened (one line naming the
# CREATE DATABASE command when a MySQL database is missing), migrates it and then hands over to
# scripts/supervise.py, which runs the five processes in the foreground, their output prefixed
# with [web], [events], [worker], [beat] and [proxy], prints the banner once all five are ready,
# starts again any of them that exits, and stops all five on Ctrl-C or when its output is closed
# (`scripts/run.sh | head -5`, or `scripts/run.sh | tee log` and Ctrl-C).
#
# Environment (all optional): DATABASE_URL (default: SQLite file db.sqlite3), REDIS_URL (default
# redis://127.0.0.1:6379/0), HOST (127.0.0.1), PORT (8000), EVENTS_PORT (PORT + 1) and WEB_PORT
# (PORT + 2), both on 127.0.0.1, WEB_WORKERS (2), WORKER_CONCURRENCY (2), LOG_LEVEL (Celery's:
# WARNING), DJANGO_SETTINGS_MODULE (chatapi.settings.local), PYTHON (python3), STOP_TIMEOUT
# (seconds to wait for a graceful stop before SIGKILL, 30), READY_TIMEOUT (seconds the five may
# take to be ready, 120), RUN_DIR (var: ready files, beat's schedule, gunicorn's control socket,
# metrics, nginx's configuration and temporary files), METRICS_WORKER_PORT (9808) and
# METRICS_BEAT_PORT (9809): the worker's and beat's own /metrics, METRICS_TOKEN (the API's
# GET /metrics takes it as a Bearer token), SKIP_INSTALL=1 (use .venv as it is: no apt, no pip).
set -euo pipefail
# PYTHON, VENV, log, die and the steps shared with scripts/test.sh: packages, .venv, Redis.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-chatapi.settings.local}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
# Without this, print() output of the processes would reach the terminal in late bursts.
export PYTHONUNBUFFERED=1
export HOST=${HOST:-127.0.0.1}
export PORT=${PORT:-8000}
# The stream process (live events, docs/events.md) listens here.
export EVENTS_PORT=${EVENTS_PORT:-$((PORT + 1))}
# Web (the API on gunicorn) listens here; nginx on PORT is in front of both.
export WEB_PORT=${WEB_PORT:-$((PORT + 2))}
export RUN_DIR=${RUN_DIR:-var}

# True when something accepts TCP connections at host:port.
port_open() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import socket
import sys

try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
except OSError:
    sys.exit(1)
PY
}

main() {
  mkdir -p var "$RUN_DIR"
  if [[ ${SKIP_INSTALL:-0} == 1 ]]; then
    [[ -x $VENV/bin/python ]] || die "SKIP_INSTALL=1 but there is no $VENV; run without it once"
  else
    ensure_requirements requirements.txt "$VENV/.requirements.sha"
    ensure_nginx
  fi
  [[ -x $NGINX ]] || die "$NGINX is missing; install Debian's nginx package (apt-get install nginx)"
  export PATH="$PWD/$VENV/bin:$PATH"

  local probe_host=$HOST
  [[ $HOST == 0.0.0.0 || $HOST == "::" ]] && probe_host=127.0.0.1
  if port_open "$probe_host" "$PORT"; then
    die "something already listens on $probe_host:$PORT; stop it or run with PORT=<another port>"
  fi
  local name
  for name in EVENTS_PORT WEB_PORT; do
    if port_open 127.0.0.1 "${!name}"; then
      die "something already listens on 127.0.0.1:${!name}; stop it or run with $name=<another port>"
    fi
  done

  ensure_redis "$REDIS_URL"
  python scripts/check_database.py || exit 1
  log "python manage.py migrate"
  python manage.py migrate --noinput --verbosity 0

  export STARTED_REDIS
  exec python scripts/supervise.py
}

main "$@"
