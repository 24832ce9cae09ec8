"""gunicorn's logger, with no token in full and, with LOG_FORMAT=json, one JSON object per line.

The access log writes every request's path, and the path of every call under an application
carries its token: each atom is redacted (core.logs.redact) before the line is written.
gunicorn.conf.py, at the root of the repository, names this class.
https://docs.gunicorn.org/en/stable/settings.html#logger-class
"""

import os
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

from core.logs import handler_prepare, redact


class Logger(GunicornLogger):
    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.log_format = os.environ.get("LOG_FORMAT", "plain").lower()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler_prepare(handler, self.log_format)

    def atoms(self, resp: Any, req: Any, environ: dict, request_time: timedelta) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            name: redact(value) if isinstance(value, str) else value
            for name, value in atoms.items()
        }

    def access(self, resp: Any, req: Any, environ: dict, request_time: timedelta) -> None:
        if getattr(self, "log_format", "plain") != "json" or not self.access_log_enabled:
            super().access(resp, req, environ, request_time)
            return
        atoms = self.atoms(resp, req, environ, request_time)
        headers = {name.lower(): value for name, value in resp.headers}
        path = atoms["U"] + (f"?{atoms['q']}" if atoms["q"] else "")
        self.access_log.info(
            "%s %s %s",
            atoms["m"],
            path,
            atoms["s"],
            extra={
                "method": atoms["m"],
                "path": path,
                "status": int(atoms["s"]),
                "bytes": atoms["B"],
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "remote_addr": atoms["h"],
                "user_agent": atoms["a"],
                "request_id": headers.get("x-request-id", "-"),
            },
        )
