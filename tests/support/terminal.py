"""Lines that reach the terminal through pytest's output capture, even when a test passes."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest


def to_terminal(config: pytest.Config, text: str) -> None:
    """Write past pytest's output capture, so that a line is seen even when the test passes."""
    capture = config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        sys.stderr.write(text if text.endswith("\n") else text + "\n")
        sys.stderr.flush()


@pytest.fixture
def say(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Print a measurement so that it shows in the test run's output even on success."""
    return lambda text: to_terminal(request.config, text)
