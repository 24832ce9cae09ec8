# shellcheck shell=bash
# What scripts/run.sh and scripts/test.sh share: the system packages mysqlclient needs (and
# run.sh's nginx), .venv and its requirements, and a Redis to talk to. Sourced, never run; the
# scripts source it before they cd to the repository root and call its functions from there,
# under set -euo pipefail.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Environment (optional): PYTHON, the interpreter that creates .venv (python3).

PYTHON=${PYTHON:-python3}
VENV=.venv
APT_PACKAGES=(pkg-config default-libmysqlclient-dev build-essential)
# Debian's nginx, run.sh's proxy (scripts/proxy.py).
NGINX=/usr/sbin/nginx

# What log puts before each line: run.sh keeps "==> "; test.sh, whose sections already carry a
# "==>" header, sets it to "".
LOG_PREFIX='==> '
# Set to 1 by ensure_redis when it started a redis-server (which keeps running after the script).
STARTED_REDIS=0

log() { printf '%s%s\n' "$LOG_PREFIX" "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- system packages --------------------------------------------------------------------------

# mysqlclient has no Linux wheel: pip compiles it, which needs a C compiler, pkg-config, the
# MySQL/MariaDB client headers and Python's own headers. Only needed when pip is about to run.
ensure_build_packages() {
  local missing=()
  if ! pkg-config --exists mysqlclient 2>/dev/null; then
    missing+=("${APT_PACKAGES[@]}")
  fi
  # Debian's own python3 lacks venv support and headers unless python3-venv / python3-dev are in.
  if [[ ! -x $VENV/bin/python ]] && ! "$PYTHON" -c 'import ensurepip' 2>/dev/null; then
    missing+=(python3-venv)
  fi
  if ! "$PYTHON" -c 'import os, sys, sysconfig
sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
    2>/dev/null; then
    missing+=(python3-dev)
  fi
  ((${#missing[@]})) || return 0
  apt_install "${missing[@]}"
}

# ensure_nginx: installs Debian's nginx when NGINX is missing. The package may start a system
# nginx on port 80, which we never use: it is stopped and disabled right away.
ensure_nginx() {
  [[ -x $NGINX ]] && return 0
  apt_install nginx
  "$NGINX" -s quit >/dev/null 2>&1 || true
  service nginx stop >/dev/null 2>&1 || true
  systemctl disable nginx >/dev/null 2>&1 || update-rc.d nginx disable >/dev/null 2>&1 || true
}

# apt_install PACKAGE...: apt-get installs them as root; otherwise says how, and exits.
apt_install() {
  local missing=("$@")
  if ! command -v apt-get >/dev/null; then
    log "not a Debian-like system: install by hand the equivalent of: ${missing[*]}"
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    printf 'These system packages are needed first:\n\n  sudo apt-get update && sudo apt-get install -y %s\n\nthen run %s again.\n' \
      "${missing[*]}" "$0" >&2
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
}

# --- Python environment -----------------------------------------------------------------------

# ensure_requirements FILE STAMP: installs FILE into .venv unless STAMP says this exact FILE is
# already in. A FILE other than requirements.txt (requirements-dev.txt) includes requirements.txt,
# so the stamp then covers both files; for requirements.txt itself it is the file's sha256.
ensure_requirements() {
  local requirements=$1 stamp=$2 sum
  local files=("$requirements")
  if [[ $requirements != requirements.txt ]]; then
    files+=(requirements.txt)
  fi
  sum=$(cat "${files[@]}" | sha256sum | cut -d' ' -f1)
  if [[ -x $VENV/bin/python && -f $stamp && $(<"$stamp") == "$sum" ]]; then
    log "$requirements already installed in $VENV"
    return 0
  fi
  ensure_build_packages
  if [[ ! -x $VENV/bin/python ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null ||
      die "Python 3.11 or newer is needed; set PYTHON=/path/to/python3.11"
    log "creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  log "pip install -r $requirements"
  "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"
  echo "$sum" >"$stamp"
}

# --- Redis ------------------------------------------------------------------------------------

# url_address URL DEFAULT_PORT: prints "scheme host port" of URL (host 127.0.0.1 and
# DEFAULT_PORT when it names none).
url_address() {
  "$VENV/bin/python" - "$1" "$2" <<'PY'
import sys
from urllib.parse import urlsplit

url = urlsplit(sys.argv[1])
print(url.scheme, url.hostname or "127.0.0.1", url.port or int(sys.argv[2]))
PY
}

is_local() { [[ $1 == 127.0.0.1 || $1 == localhost || $1 == ::1 ]]; }

# True when something at host:port answers a Redis PING (an error reply such as NOAUTH counts:
# a Redis is there).
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

# ensure_redis URL: returns when a Redis answers at URL (the scripts' REDIS_URL). When none does
# and URL is local, starts redis-server (if installed) with its files in var/, which must exist.
ensure_redis() {
  local _scheme host port
  read -r _scheme host port < <(url_address "$1" 6379)
  if redis_answers "$host" "$port"; then
    log "Redis answers at $host:$port"
    return 0
  fi
  is_local "$host" ||
    die "Redis does not answer at $host:$port (REDIS_URL); start it or point REDIS_URL elsewhere"
  if ! command -v redis-server >/dev/null; then
    printf 'error: Redis does not answer at %s:%s and redis-server is not installed.\n' "$host" "$port" >&2
    printf 'Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis),\n' >&2
    printf 'or set REDIS_URL to a Redis that runs elsewhere, then run %s again.\n' "$0" >&2
    exit 1
  fi
  log "starting redis-server on 127.0.0.1:$port (log: var/redis.log, keeps nothing on disk)"
  STARTED_REDIS=1
  # Absolute paths: redis-server changes into --dir before it opens the log and pid files.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$PWD/var" --logfile "$PWD/var/redis.log" --pidfile "$PWD/var/redis.pid"
  local _
  for _ in {1..50}; do
    redis_answers "$host" "$port" && return 0
    sleep 0.2
  done
  tail -n 20 var/redis.log >&2 || true
  die "redis-server did not start; see var/redis.log"
}
