"""deploy/prometheus: the alert rules pass ``promtool check rules`` and their unit tests
(``promtool test rules``), and the compose scrape configuration is valid; Debian's
``prometheus`` package ships promtool (.ci/run installs it)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.harness.process import command_run

DEPLOY = Path(settings.BASE_DIR) / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

# Skipped on a developer's machine without it, never in CI.
pytestmark = [
    pytest.mark.backend_independent,
    pytest.mark.skipif(
        PROMTOOL is None and not os.environ.get("CI"), reason="promtool is not installed"
    ),
]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return command_run([PROMTOOL or "promtool", *args], cwd=DEPLOY, timeout=60)


def test_the_rules_are_valid():
    result = promtool("check", "rules", "alerts.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout


def test_the_rules_unit_tests_pass():
    result = promtool("test", "rules", "alerts_test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_scrape_configuration_is_valid():
    result = promtool("check", "config", "--syntax-only", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
