"""A real Prometheus (Debian's /usr/bin/prometheus) on a free port, scraping what a test says,
with its HTTP API as a function: ``LocalPrometheus(jobs, tmp_path).start()``."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.harness.ports import free_port
from tests.support.harness.process import ServiceProcess

PROMETHEUS = shutil.which("prometheus")


class LocalPrometheus:
    """``jobs``: job name -> (target "host:port", bearer token or None)."""

    def __init__(
        self, jobs: dict[str, tuple[str, str | None]], directory: Path, interval: str = "1s"
    ) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        scrape_configs: list[dict[str, Any]] = []
        for name, (target, token) in jobs.items():
            job: dict[str, Any] = {"job_name": name, "static_configs": [{"targets": [target]}]}
            if token is not None:
                job["authorization"] = {"type": "Bearer", "credentials": token}
            scrape_configs.append(job)
        self.config = directory / "prometheus.yml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": interval, "scrape_timeout": interval},
                    "scrape_configs": scrape_configs,
                }
            )
        )
        self.log_path = directory / "prometheus.log"

    def start(self, timeout: float = 30) -> LocalPrometheus:
        assert PROMETHEUS is not None, "prometheus is not installed (apt-get install prometheus)"
        self.process = ServiceProcess(
            f"prometheus on 127.0.0.1:{self.port}",
            [
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            dict(os.environ),
            self.log_path,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._ready():
                return self
            if not self.process.alive():
                break
            time.sleep(0.2)
        self.process.stop()
        raise RuntimeError(f"prometheus did not start:\n{self.process.log()}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url("/-/ready"), timeout=2) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    def stop(self) -> None:
        self.process.stop(timeout=10)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, expression: str) -> list[dict[str, Any]]:
        """An instant query's result vector (``/api/v1/query``)."""
        path = "/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        with urllib.request.urlopen(self.url(path), timeout=10) as response:  # noqa: S310
            answer = json.load(response)
        assert answer["status"] == "success", answer
        return answer["data"]["result"]

    def value(self, expression: str) -> float | None:
        """The one value an expression answers, or None when it answers nothing."""
        result = self.query(expression)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])
