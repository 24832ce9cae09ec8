#!/usr/bin/env bash
# Everything CI checks, runnable on a developer's machine:
#
#   scripts/test.sh [pytest arguments...]        (or: make test)
#
# Installs requirements-dev.txt into .venv, starts Redis and MariaDB when they are down (and
# installed), then runs ruff (lint and format), the missing-migrations check and the test suite
# twice: against MariaDB and against SQLite. Every check runs even when an earlier one failed;
# the script exits non-zero if any did, and lists which.
#
# Environment (all optional):
#   TEST_DATABASE_URL  the MariaDB/MySQL of the first pass (mysql://root@127.0.0.1:3306/test;
#                      the tests create and drop test_<name> in it)
#   TEST_MYSQL=0       skip the MariaDB pass         TEST_SQLITE=0   skip the SQLite pass
#   REDIS_URL          the Redis of the tests (chatapi.settings.test: redis://127.0.0.1:6379/15)
#   PYTHON             the interpreter that creates .venv (python3)
# Examples: scripts/test.sh -k numbering -x        TEST_SQLITE=0 scripts/test.sh -m "not e2e"
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
APT_PACKAGES=(pkg-config default-libmysqlclient-dev build-essential)
TEST_DATABASE_URL=${TEST_DATABASE_URL:-mysql://root@127.0.0.1:3306/test}
TEST_REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
# Exported so that a DJANGO_SETTINGS_MODULE left in the shell cannot beat pytest.ini's.
export DJANGO_SETTINGS_MODULE=chatapi.settings.test
export PYTHONUNBUFFERED=1

header() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- system packages and .venv (the same steps as scripts/run.sh) -----------------------------

# mysqlclient has no Linux wheel: pip compiles it, which needs a C compiler, pkg-config, the
# MySQL/MariaDB client headers and Python's own headers. Only needed when pip is about to run.
ensure_build_packages() {
  local missing=()
  if ! pkg-config --exists mysqlclient 2>/dev/null; then
    missing+=("${APT_PACKAGES[@]}")
  fi
  if [[ ! -x $VENV/bin/python ]] && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
  fi
  if ! "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    2>/dev/null; then
    missing+=(python3-dev)
  fi
  ((${#missing[@]})) || return 0

  if ! command -v apt-get >/dev/null; then
    echo "not a Debian-like system: install by hand the equivalent of: ${missing[*]}"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    printf 'These system packages are needed first:\n\n  sudo apt-get update && sudo apt-get install -y %s\n\nthen run %s again.\n' \
      "${missing[*]}" "$0" >&2
    exit 1
  fi
  echo "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
}

# requirements-dev.txt includes requirements.txt, so the stamp covers both files.
ensure_dev_requirements() {
  local stamp=$VENV/.requirements-dev.sha sum
  sum=$(cat requirements-dev.txt requirements.txt | sha256sum | cut -d' ' -f1)
  if [[ -x $VENV/bin/python && -f $stamp && $(<"$stamp") == "$sum" ]]; then
    echo "requirements-dev.txt already installed in $VENV"
    return 0
  fi
  ensure_build_packages
  if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
      die "Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11"
    echo "creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  echo "pip install -r requirements-dev.txt"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r requirements-dev.txt
  echo "$sum" >"$stamp"
}

# --- services ---------------------------------------------------------------------------------

# Prints "scheme host port" of a URL, with the given default port.
url_address() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
print(url.scheme, url.hostname or "127.0.0.1", url.port or int(sys.argv[2]))
PY
}

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

# True when something at host:port answers a Redis PING (an error reply such as NOAUTH counts).
redis_answers() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import socket
import sys

try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        reply = conn.recv(64)
except OSError:
    sys.exit(1)
sys.exit(0 if reply[:1] in (b"+", b"-") else 1)
PY
}

ensure_redis() {
  local _scheme host port
  read -r _scheme host port < <(url_address "$TEST_REDIS_URL" 6379)
  if redis_answers "$host" "$port"; then
    echo "Redis answers at $host:$port"
    return 0
  fi
  is_local "$host" || die "Redis does not answer at $host:$port (REDIS_URL)"
  command -v redis-server >/dev/null ||
    die "Redis does not answer at $host:$port and redis-server is not installed (apt-get install redis-server)"
  echo "starting redis-server on 127.0.0.1:$port (log: var/redis.log)"
  # Absolute paths: redis-server changes into --dir before it opens the log and pid files.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/var" --logfile "$PWD/var/redis.log" --pidfile "$PWD/var/redis.pid"
  local _
  for _ in {1..50}; do
    redis_answers "$host" "$port" && return 0
    sleep 0.2
  done
  die "redis-server did not start; see var/redis.log"
}

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
  ensure_dev_requirements
  export PATH="$PWD/$VENV/bin:$PATH"

  header "services"
  ensure_redis
  [[ ${TEST_MYSQL:-1} == 0 ]] || ensure_mariadb

  check "ruff check ." ruff check .
  check "ruff format --check ." ruff format --check .
  check "makemigrations --check" env DATABASE_URL="$sqlite_url" \
    python manage.py makemigrations --check --dry-run
  if [[ ${TEST_MYSQL:-1} != 0 ]]; then
    check "pytest on MariaDB" env DATABASE_URL="$TEST_DATABASE_URL" pytest "$@"
  fi
  if [[ ${TEST_SQLITE:-1} != 0 ]]; then
    check "pytest on SQLite" env DATABASE_URL="$sqlite_url" pytest "$@"
  fi

  if ((${#FAILED[@]})); then
    header "FAILED: ${#FAILED[@]} check(s)"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
  fi
  header "all checks passed"
}

main "$@"
