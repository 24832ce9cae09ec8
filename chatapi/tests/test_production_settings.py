"""The production settings: ``check --deploy`` is clean, and missing secrets fail at start-up.

Each case runs ``manage.py`` in a child process with an environment built from scratch, so
that nothing of the test run (DJANGO_SETTINGS_MODULE, SECRET_KEY of the test settings, a
developer's .env) leaks into what production would see.
"""

import os
import subprocess
import sys

import pytest

from tests.support.harness.process import command_run

SECRET = "a-production-secret-key-of-fifty-characters-or-more-0123456789abcdef"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", ""),
        "DJANGO_SETTINGS_MODULE": "chatapi.settings.production",
        # Resolved without connecting: check --deploy opens no database or Redis connection.
        "DATABASE_URL": "sqlite:////tmp/chatapi-production-settings-check.sqlite3",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    return command_run([sys.executable, "manage.py", *args], env={**base, **env})


def test_check_deploy_passes_with_no_warning():
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="chat.example.com,api.example.com",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_debug_is_off_whatever_the_environment_says():
    result = manage(
        "shell",
        "-c",
        "from django.conf import settings; print(settings.DEBUG, settings.ALLOWED_HOSTS)",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="chat.example.com",
        DEBUG="true",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False ['chat.example.com']"


@pytest.mark.parametrize(
    "env,missing",
    [
        ({"ALLOWED_HOSTS": "chat.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": SECRET}, "ALLOWED_HOSTS"),
        ({}, "SECRET_KEY"),
    ],
    ids=["no SECRET_KEY", "no ALLOWED_HOSTS", "neither"],
)
def test_production_refuses_to_start_without_its_secrets(env, missing):
    result = manage("check", **env)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr, result.stderr
    assert f"Set the {missing} environment variable" in result.stderr, result.stderr


@pytest.mark.parametrize(
    "env,empty",
    [
        ({"SECRET_KEY": "", "ALLOWED_HOSTS": "chat.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": "  ", "ALLOWED_HOSTS": "chat.example.com"}, "SECRET_KEY"),
        ({"SECRET_KEY": SECRET, "ALLOWED_HOSTS": ""}, "ALLOWED_HOSTS"),
    ],
    ids=["empty SECRET_KEY", "blank SECRET_KEY", "empty ALLOWED_HOSTS"],
)
def test_an_empty_secret_is_refused_like_a_missing_one(env, empty):
    """``SECRET_KEY=`` left blank in an .env file must not start a server that fails later."""
    result = manage("check", **env)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured" in result.stderr, result.stderr
    assert f"Set the {empty} environment variable (it is empty)" in result.stderr


def test_check_deploy_warns_when_tls_is_turned_off():
    """The plain-HTTP switches of the compose demo are real: check --deploy notices them."""
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=SECRET,
        ALLOWED_HOSTS="chat.example.com",
        SECURE_SSL_REDIRECT="false",
    )

    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout
