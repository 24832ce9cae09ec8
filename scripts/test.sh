#!/usr/bin/env bash
# Everything CI checks, runnable on a developer's machine:
#
#   scripts/test.sh [pytest arguments...]        (or: make test)
#
# Installs requirements-dev.txt into .venv, starts Redis and MariaDB when they are down (and
# installed), then runs ruff (lint and format), mypy, lint-imports, the prose check
# (scripts/check_prose.py), the missing-migrations check and the test suite twice: against
# MariaDB and against SQLite. Every check runs even when an earlier one failed; the script exits
# non-zero if any did, and lists which.
#
# Environment (all optional):
#   TEST_DATABASE_URL  the MariaDB/MySQL of the first pass (mysql://root@127.0.0.1:3306/test;
#                      the tests create and drop test_<name> in it)
#   TEST_MYSQL=0       skip the MariaDB pass         TEST_SQLITE=0   skip the SQLite pass
#   TEST_CLUSTER=0     skip the Redis Cluster pass (pipeline, API and end-to-end tests)
#   REDIS_URL          the Redis of the tests (chatapi.settings.test: redis://127.0.0.1:6379/15)
#   PYTHON             the interpreter that creates .venv (python3)
# Examples: scripts/test.sh -k numbering -x        TEST_SQLITE=0 scripts/test.sh -m "not e2e"
set -euo pipefail
# PYTHON, VENV, log, die and the steps shared with scripts/run.sh: packages, .venv, Redis.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Bare progress lines: each section already starts with a "==>" header.
LOG_PREFIX=''

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TEST_DATABASE_URL=${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306/test}
TEST_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
# Exported so that a DJANGO_SETTINGS_MODULE left in the shell cannot beat pytest.ini's.
export DJANGO_SETTINGS_MODULE=chatapi.settings.test
export PYTHONUNBUFFERED=1

header() { printf '\n==> %s\n' "$*"; }

# --- MariaDB (Redis: ensure_redis in scripts/lib.sh) ------------------------------------------

# True when a MySQL/MariaDB server answers at host:port. mysqladmin ping succeeds even when the
# credentials are refused: it asks only whether the server is up. Without mysqladmin, a server
# is up if it sends its greeting.
mysql_answers() {
  if command -v mysqladmin >/dev/null; then
    mysqladmin --protocol=TCP -h"$1" -P"$2" -uroot --connect-timeout=2 ping >/dev/null 2>&1
    return
  fi
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import socket
import sys

try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2) as conn:
        sys.exit(0 if conn.recv(4) else 1)
except OSError:
    sys.exit(1)
PY
}

ensure_mariadb() {
  local scheme host port
  read -r scheme host port < <(url_address "$TEST_DATABASE_URL" 3306)
  [[ $scheme == mysql* || $scheme == mariadb* ]] || return 0
  if mysql_answers "$host" "$port"; then
    echo "MariaDB answers at $host:$port"
    return 0
  fi
  is_local "$host" || die "MariaDB does not answer at $host:$port (TEST_DATABASE_URL)"
  [[ -x /usr/sbin/mariadbd ]] ||
    die "MariaDB does not answer at $host:$port and is not installed: apt-get install mariadb-server, or TEST_MYSQL=0 to skip that pass"
  [[ $(id -u) -eq 0 ]] ||
    die "MariaDB is down; start it: sudo start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"
  echo "starting MariaDB"
  # /run is emptied at boot; the Debian package's init script would recreate the socket dir.
  if [[ ! -d /run/mysqld ]] && id mysql >/dev/null 2>&1; then
    install -d -o mysql -g mysql -m 755 /run/mysqld
  fi
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  local _
  for _ in {1..30}; do
    mysql_answers "$host" "$port" && return 0
    sleep 1
  done
  die "MariaDB did not answer within 30 s (see /var/log/mysql/error.log or journalctl)"
}

# --- RabbitMQ ---------------------------------------------------------------------------------

# The broker of tests/test_rabbitmq_broker.py, on 127.0.0.1:5672 (guest/guest). The tests make a
# vhost of their own with rabbitmqctl, which needs root (the node's Erlang cookie).
ensure_rabbitmq() {
  if (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    echo "RabbitMQ answers at 127.0.0.1:5672"
    return 0
  fi
  # Not fatal: only tests/test_rabbitmq_broker.py needs it, and it fails saying why.
  if ! command -v rabbitmq-server >/dev/null; then
    echo "RabbitMQ is not installed: its tests will fail (apt-get install rabbitmq-server)"
  elif [[ $(id -u) -ne 0 ]]; then
    echo "RabbitMQ is down: its tests will fail (start it: sudo rabbitmq-server -detached)"
  else
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    rabbitmqctl --quiet await_startup --timeout 60 ||
      echo "RabbitMQ did not start (see /var/log/rabbitmq): its tests will fail"
  fi
}

# --- newman -----------------------------------------------------------------------------------

# Postman's command-line runner runs docs/chat-api.postman_collection.json against a live server
# (tests/clients/test_postman.py). Installed from npm into var/node, not globally; pinned.
NEWMAN_VERSION=6.2.2
ensure_newman() {
  local newman=var/node/node_modules/.bin/newman
  if [[ -x $newman && $("$newman" --version 2>/dev/null) == "$NEWMAN_VERSION" ]]; then
    echo "newman $NEWMAN_VERSION in var/node"
    return 0
  fi
  if ! command -v npm >/dev/null; then
    echo "npm is not installed: the Postman collection test is skipped (apt-get install npm)"
    return 0
  fi
  echo "npm install newman@$NEWMAN_VERSION (into var/node)"
  npm install --prefix var/node --no-audit --no-fund --loglevel=error "newman@$NEWMAN_VERSION" ||
    echo "could not install newman: the Postman collection test will fail in CI"
}

# --- the checks -------------------------------------------------------------------------------

FAILED=()
# check TITLE COMMAND...: runs COMMAND under a header and records a failure instead of stopping.
check() {
  local title=$1
  shift
  header "$title"
  if "$@"; then
    echo "ok: $title"
  else
    echo "FAILED ($?): $title"
    FAILED+=("$title")
  fi
}

main() {
  mkdir -p var
  local sqlite_url="sqlite:///$PWD/var/test.sqlite3"

  header "Python environment (.venv, requirements-dev.txt)"
  ensure_requirements requirements-dev.txt "$VENV/.requirements-dev.sha"
  export PATH="$PWD/$VENV/bin:$PATH"

  header "services"
  ensure_redis "$TEST_REDIS_URL"
  [[ ${TEST_MYSQL:-1} == 0 ]] || ensure_mariadb
  ensure_rabbitmq
  ensure_newman

  check "ruff check ." ruff check .
  check "ruff format --check ." ruff format --check .
  # The files and the django-stubs settings are in pyproject.toml ([tool.mypy]).
  check "mypy" mypy
  # The import contracts between the apps and the pipeline ([tool.importlinter]).
  check "lint-imports" lint-imports --no-cache
  # Every file path and dotted name of ours in comments, docstrings and Markdown exists.
  check "prose: paths and names exist" python scripts/check_prose.py
  check "makemigrations --check" env DATABASE_URL="$sqlite_url" \
    python manage.py makemigrations --check --dry-run
  # The MariaDB pass includes tests/history: the history checker's CI seeds on one Redis
  # (4, test_history.py) and on a 3-master, 3-replica Redis Cluster (1, test_history_cluster.py).
  if [[ ${TEST_MYSQL:-1} != 0 ]]; then
    check "pytest on MariaDB" env DATABASE_URL="$TEST_DATABASE_URL" pytest "$@"
  fi
  if [[ ${TEST_SQLITE:-1} != 0 ]]; then
    # The backend-independent tests (pytest.ini) ran in the MariaDB pass, if it ran.
    local once=0
    [[ ${TEST_MYSQL:-1} == 0 ]] || once=1
    check "pytest on SQLite" env DATABASE_URL="$sqlite_url" TEST_SKIP_BACKEND_INDEPENDENT=$once \
      pytest "$@"
  fi
  # The pipeline on a real 3-master Redis Cluster the run starts on free ports (conftest.py):
  # its own tests, the apps' API tests and the end-to-end tests (RabbitMQ's included).
  if [[ ${TEST_CLUSTER:-1} != 0 && ${TEST_MYSQL:-1} != 0 ]]; then
    check "pytest on a Redis Cluster (MariaDB)" env DATABASE_URL="$TEST_DATABASE_URL" \
      TEST_REDIS_TOPOLOGY=cluster pytest "$@" pipeline applications chats messages_app events \
      tests/test_end_to_end.py tests/test_concurrency.py tests/test_rabbitmq_broker.py
  fi

  if ((${#FAILED[@]})); then
    header "FAILED: ${#FAILED[@]} check(s)"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
  fi
  header "all checks passed"
}

main "$@"
