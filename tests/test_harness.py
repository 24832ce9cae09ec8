"""The process harness (tests/support/harness/process.py): a process is stopped whole, children
left behind included, gets exactly the environment it is given, and one that cannot get ready
fails with its log.

Each shell below writes "ready" to its log once its traps are set, so no signal arrives before
them. A killed child whose parent is gone is reaped by PID 1 in its own time, hence the waits.
"""

import os
import signal
from pathlib import Path

import psutil
import pytest

from tests.support.harness.process import ServiceProcess, command_run
from tests.support.waiting import wait_until


def started(tmp_path: Path, script: str, env: dict[str, str] | None = None) -> ServiceProcess:
    process = ServiceProcess(
        "sh", ["sh", "-c", script], env or dict(os.environ), tmp_path / "sh.log", cwd=tmp_path
    )
    process.wait_for_log("ready", timeout=10)
    return process


def group_empty(process: ServiceProcess) -> bool:
    return not any(
        child.status() != psutil.STATUS_ZOMBIE
        for child in psutil.process_iter()
        if _group_of(child) == process.pid
    )


def _group_of(process: psutil.Process) -> int | None:
    try:
        return os.getpgid(process.pid)
    except ProcessLookupError:
        return None


def test_a_group_whose_leader_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    process = started(tmp_path, "trap '' TERM; sleep 60 & echo ready; wait")

    status = process.stop(timeout=0.5)

    assert status == -signal.SIGKILL
    wait_until(lambda: group_empty(process), timeout=30, what="the group to be empty")


def test_a_child_that_outlives_its_leader_is_stopped_with_it(tmp_path):
    """The leader exits on SIGTERM; its child ignores SIGTERM and would run on."""
    process = started(tmp_path, "(trap '' TERM; echo ready; exec sleep 60) & exec sleep 60")

    status = process.stop(timeout=10)

    assert status == -signal.SIGTERM
    wait_until(lambda: group_empty(process), timeout=30, what="the group to be empty")


def test_a_child_that_left_the_group_is_killed_too(tmp_path):
    """``setsid`` puts the child in a session of its own: only mirakuru's mark finds it."""
    process = started(tmp_path, "setsid sh -c 'echo $$ > child; exec sleep 60' & echo ready; wait")
    pid_file = tmp_path / "child"
    child = int(wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), timeout=10))

    process.kill()

    wait_until(
        lambda: (
            not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
        ),
        timeout=30,
        what="the child to be gone",
    )


def test_a_killed_group_has_no_process_left(tmp_path):
    process = started(tmp_path, "sleep 60 & echo ready; sleep 60")

    process.kill()

    assert process.wait() == -signal.SIGKILL
    wait_until(lambda: group_empty(process), timeout=30, what="the group to be empty")


def test_the_child_gets_exactly_the_environment_it_is_given(tmp_path):
    process = started(tmp_path, "env > env.txt; echo ready; sleep 60", env={"ONLY": "this"})
    process.stop()

    names = {line.split("=", 1)[0] for line in (tmp_path / "env.txt").read_text().splitlines()}
    assert names - {"PWD", "SHLVL", "_", "mirakuru_uuid"} == {"ONLY"}


def test_a_process_that_exits_before_it_is_ready_fails_with_its_log(tmp_path):
    process = ServiceProcess(
        "sh", ["sh", "-c", "echo no config; exit 0"], dict(os.environ), tmp_path / "sh.log"
    )

    with pytest.raises(RuntimeError, match="sh did not log 'ready':\nno config"):
        process.wait_for_log("ready", timeout=10)


def test_a_process_that_is_never_ready_is_killed_at_the_deadline(tmp_path):
    process = ServiceProcess("sh", ["sh", "-c", "sleep 60"], dict(os.environ), tmp_path / "s.log")

    with pytest.raises(RuntimeError, match="sh did not log 'ready'"):
        process.wait_for_log("ready", timeout=0.5)

    assert process.wait(timeout=10) == -signal.SIGKILL


def test_a_command_runs_to_completion_with_its_output():
    done = command_run(["sh", "-c", "echo out; echo err >&2; exit 3"])

    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
