#!/usr/bin/env bash
# Run the whole service on this machine: the API (gunicorn), a Celery worker and Celery beat.
#
#   scripts/run.sh            (or: make run)
#
# On a fresh Debian 12 machine it installs what mysqlclient needs to build (apt, as root), creates
# .venv, installs requirements.txt, starts a local Redis when none answers, migrates the database
# and then runs the three processes in the foreground, their output prefixed with [web], [worker]
# and [beat]. Ctrl-C stops all three. If one of them dies, the others are stopped and the script
# exits non-zero, so a broken start never looks like a working one.
#
# Environment (all optional): DATABASE_URL (default: SQLite file db.sqlite3), REDIS_URL (default
# redis://127.0.0.1:6379/0), HOST (127.0.0.1), PORT (8000), WEB_WORKERS (2),
# WORKER_CONCURRENCY (2), DJANGO_SETTINGS_MODULE (chatapi.settings.local), PYTHON (python3),
# STOP_TIMEOUT (seconds to wait for a graceful stop before SIGKILL, 30).
set -euo pipefail
# PYTHON, VENV, log, die and the steps shared with scripts/test.sh: packages, .venv, Redis.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-chatapi.settings.local}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/0}
# Without this, print() output of the three processes would reach the terminal in late bursts.
export PYTHONUNBUFFERED=1
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
STOP_TIMEOUT=${STOP_TIMEOUT:-30}

# --- the web port -----------------------------------------------------------------------------

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

# --- the three processes ----------------------------------------------------------------------

FORCE_STOP=0
declare -A PIDS=()   # name -> pid; each process leads its own process group (setsid)
NAMES=()

# start NAME COMMAND...: runs COMMAND in a new session, its stdout and stderr prefixed with
# [NAME]. The wrapper execs into COMMAND, so $! is COMMAND's pid and its process group id; the
# prefixing sed stays in that group and ends when COMMAND's output closes.
start() {
  local name=$1
  shift
  local prefix
  prefix=$(printf '%-9s' "[$name]")
  # shellcheck disable=SC2016  # $1 and $@ expand inside the new bash, as intended
  setsid bash -c 'prefix=$1; shift; exec "$@" > >(exec sed -u "s/^/$prefix/") 2>&1' \
    _ "$prefix" "$@" &
  PIDS[$name]=$!
  NAMES+=("$name")
}

alive() { kill -0 "$1" 2>/dev/null; }
group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# SIGTERM to each main process (gunicorn and Celery stop gracefully on it and stop their own
# children), then SIGKILL to whatever is left of each process group after STOP_TIMEOUT seconds.
stop_all() {
  local name pid deadline
  for name in "${NAMES[@]}"; do
    alive "${PIDS[$name]}" && kill -TERM "${PIDS[$name]}" 2>/dev/null || true
  done
  deadline=$((SECONDS + STOP_TIMEOUT))
  for name in "${NAMES[@]}"; do
    pid=${PIDS[$name]}
    while group_alive "$pid" && ((SECONDS < deadline && !FORCE_STOP)); do sleep 0.2; done
    if group_alive "$pid"; then
      log "$name did not stop in time: SIGKILL"
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}

shutdown() {
  local status=$1
  trap - INT TERM HUP
  # A second Ctrl-C while stopping skips the grace period.
  trap 'FORCE_STOP=1' INT
  stop_all
  trap - INT
  log "stopped"
  exit "$status"
}

main() {
  mkdir -p var
  ensure_requirements requirements.txt "$VENV/.requirements.sha"
  export PATH="$PWD/$VENV/bin:$PATH"
  ensure_redis "$REDIS_URL"

  log "python manage.py migrate"
  python manage.py migrate --noinput

  local probe_host=$HOST bind="$HOST:$PORT"
  [[ $HOST == 0.0.0.0 || $HOST == "::" ]] && probe_host=127.0.0.1
  [[ $HOST == *:* ]] && bind="[$HOST]:$PORT"
  if port_open "$probe_host" "$PORT"; then
    die "something already listens on $probe_host:$PORT; stop it or run with PORT=<another port>"
  fi

  trap 'echo; log "stopping web, worker and beat"; shutdown 0' INT TERM HUP
  start web gunicorn chatapi.wsgi:application --bind "$bind" \
    --workers "${WEB_WORKERS:-2}" --worker-class gthread --threads 4 \
    --access-logfile - --control-socket var/gunicorn.ctl
  start worker celery -A chatapi worker --loglevel=INFO --concurrency "${WORKER_CONCURRENCY:-2}"
  start beat celery -A chatapi beat --loglevel=INFO --schedule var/celerybeat-schedule

  local _
  for _ in {1..150}; do
    port_open "$probe_host" "$PORT" || ! alive "${PIDS[web]}" && break
    sleep 0.2
  done
  if alive "${PIDS[web]}"; then
    local base="http://$probe_host:$PORT"
    [[ $probe_host == *:* ]] && base="http://[$probe_host]:$PORT"
    cat <<EOF

  The chat API is up (Ctrl-C stops web, worker and beat):
    API      $base/api/v1/apps
    Docs     $base/api/docs/
    Schema   $base/api/schema/?format=json
    Admin    $base/admin/
  Try:       curl -sS -X POST -H 'Content-Type: application/json' -d '{"name": "demo"}' $base/api/v1/apps
  Admin user: .venv/bin/python manage.py createsuperuser
  Database:  $([[ -n ${DATABASE_URL:-} ]] && echo "the one DATABASE_URL names" || echo "SQLite file db.sqlite3")
EOF
    if ((STARTED_REDIS)); then
      echo "  The Redis this script started keeps running after Ctrl-C; stop it: kill \$(cat var/redis.pid)"
    fi
    echo
  fi

  # Returns when any of the three exits (or when a signal runs the trap above).
  wait -n "${PIDS[@]}" || true
  local name
  for name in "${NAMES[@]}"; do
    if ! alive "${PIDS[$name]}"; then
      log "$name exited unexpectedly; stopping the others"
    fi
  done
  shutdown 1
}

main "$@"
