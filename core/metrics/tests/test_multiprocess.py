"""prometheus-client's multiprocess mode as set up here: values of several processes summed,
another run's files cleared, a dead process's live gauges dropped."""

import os
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from core.metrics import multiprocess
from tests.support.harness.process import command_run

# Run in a child process: multiprocess mode is chosen when prometheus_client is imported.
COUNT = """
from core.metrics.instruments import CHATS_ACCEPTED, COUNTS_REFRESHED
CHATS_ACCEPTED.inc({n})
COUNTS_REFRESHED.set({n})
"""
READ = """
from prometheus_client import generate_latest
from core.metrics import multiprocess
print(generate_latest(multiprocess.registry()).decode())
"""


def run(code: str, directory: Path) -> str:
    env = {**os.environ, multiprocess.ENV: str(directory)}
    return command_run([sys.executable, "-c", code], env=env, check=True).stdout


def sample(text: str, name: str, labels: dict[str, str]) -> float | None:
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return found.value
    return None


def test_the_values_of_every_process_are_summed(tmp_path):
    for n in (1, 2, 4):
        run(COUNT.format(n=n), tmp_path)
    text = run(READ, tmp_path)
    assert sample(text, "chatapi_creates_accepted_total", {"kind": "chat"}) == 7
    assert sample(text, "chatapi_counts_last_refresh_timestamp_seconds", {}) == 4


def test_directory_reset_keeps_only_the_given_process_files(tmp_path, monkeypatch):
    for name in ("counter_11.db", "counter_12.db", "gauge_max_12.db", "histogram_11.db"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not a value file")
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path))

    multiprocess.directory_reset(keep_pid=12)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_12.db",
        "gauge_max_12.db",
        "notes.txt",
    ]
    multiprocess.directory_reset()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_process_dead_drops_its_live_gauges_only(tmp_path, monkeypatch):
    for name in ("counter_7.db", "gauge_livesum_7.db", "gauge_max_7.db", "gauge_livesum_8.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(multiprocess.ENV, str(tmp_path))

    multiprocess.process_dead(7)

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_7.db",
        "gauge_livesum_8.db",
        "gauge_max_7.db",
    ]


@pytest.mark.parametrize("missing", [True, False])
def test_directory_reset_without_a_directory_does_nothing(tmp_path, monkeypatch, missing):
    monkeypatch.delenv(multiprocess.ENV, raising=False)
    if not missing:
        monkeypatch.setenv(multiprocess.ENV, "")
    multiprocess.directory_reset()
    assert multiprocess.directory() is None
