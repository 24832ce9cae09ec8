"""The reverse proxy of scripts/run.sh: Debian's nginx on HOST:PORT, in front of web and the
stream process, so that a client has one base URL for everything, the live events included.

scripts/supervise.py writes the configuration with ``write_config`` and runs ``nginx_command``
as its ``[proxy]`` child. The routing is deploy/nginx.conf's, reduced to one local server per
upstream: the events paths go to the stream process, unbuffered, everything else to web.

Standard library only, like scripts/processes.py: supervise.py imports it before Django.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

NGINX = "/usr/sbin/nginx"
# The two event streams of docs/events.md ("Serving" names the same pattern for any proxy).
EVENTS_PATHS = r"^/api/v1/apps/[^/]+/(chats/[^/]+/)?events$"

# The headers both locations send upstream, as deploy/nginx.conf does: the Host the client used
# (with its port: Django builds the absolute `next`/`previous` links from it) and who asked.
_UPSTREAM_HEADERS = """\
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $chatapi_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_connect_timeout 5s;"""


# nginx's own errors in the contract's error envelope (deploy/nginx.conf's): 502 and 504 while
# web restarts become 503 with Retry-After.
_TOO_LARGE = "The request body is larger than 1 MiB."
_UNAVAILABLE = "The service is not available right now; try again shortly."


def _error_body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}}) + "\\n"


def listen_address(host: str, port: str) -> str:
    """nginx's ``listen`` parameters for HOST:PORT. For ``::``, IPv4 too, as gunicorn did when it
    bound there itself (nginx's IPv6 sockets are IPv6-only unless told otherwise)."""
    if host == "::":
        return f"[::]:{port} ipv6only=off"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def config_text(*, listen: str, web: str, events: str, prefix: Path, as_root: bool) -> str:
    """nginx.conf for one server on ``listen`` proxying to ``web`` and ``events`` (host:port).

    Everything nginx writes stays under ``prefix`` (pid and temporary files), errors go to
    stderr (supervise.py prefixes them with ``[proxy]``), no access log: web logs each request.
    """
    # As root, nginx would run its workers as nobody, who cannot write the temporary
    # directories it creates under prefix as root.
    user = "user root;\n" if as_root else ""
    temp = "\n".join(
        f"    {kind}_temp_path {prefix / 'temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""# Written by scripts/supervise.py (scripts/proxy.py) at each start; edits are lost.
{user}worker_processes 1;
pid {prefix / "nginx.pid"};
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log off;
    server_tokens off;
{temp}

    map $http_host $chatapi_host {{
        ""      $host;
        default $http_host;
    }}

    upstream chatapi_web {{
        server {web};
        keepalive 16;
        keepalive_timeout 1s;
    }}

    upstream chatapi_events {{
        server {events};
        keepalive 16;
        keepalive_timeout 1s;
    }}

    server {{
        listen {listen} default_server;
        server_name _;

        # The application answers 413 itself, in the contract's shape, for a body over 1 MiB.
        client_max_body_size 2m;
        client_body_buffer_size 64k;

        error_page 413 @payload_too_large;
        error_page 502 503 504 =503 @service_unavailable;

        location @payload_too_large {{
            default_type application/json;
            return 413 '{_error_body("payload_too_large", _TOO_LARGE)}';
        }}

        location @service_unavailable {{
            default_type application/json;
            add_header Retry-After 5 always;
            return 503 '{_error_body("service_unavailable", _UNAVAILABLE)}';
        }}

        # Each event reaches the client when it is written; a stream lives for hours.
        location ~ {EVENTS_PATHS} {{
            proxy_pass http://chatapi_events;
            proxy_buffering off;
            proxy_cache off;
{_UPSTREAM_HEADERS}
            proxy_read_timeout 1h;
        }}

        location / {{
            proxy_pass http://chatapi_web;
{_UPSTREAM_HEADERS}
            proxy_read_timeout 60s;
            proxy_send_timeout 60s;
        }}
    }}
}}
"""


def write_config(*, listen: str, web: str, events: str, prefix: Path) -> Path:
    """Writes ``prefix``/nginx.conf (creating ``prefix``) and returns its path."""
    prefix = prefix.resolve()
    # nginx creates each temporary directory, but not their parent.
    (prefix / "temp").mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    as_root = os.geteuid() == 0
    path.write_text(
        config_text(listen=listen, web=web, events=events, prefix=prefix, as_root=as_root)
    )
    return path


def nginx_command(config: Path, *, nginx: str = NGINX) -> list[str]:
    """nginx in the foreground on ``config``; ``-e stderr`` keeps it from opening the compiled-in
    error log (/var/log/nginx, root's) before it has read the configuration."""
    prefix = config.parent
    return [nginx, "-p", f"{prefix}/", "-c", str(config), "-e", "stderr", "-g", "daemon off;"]
