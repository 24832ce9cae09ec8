"""scripts/processes.py: a process group is stopped whole, children left behind included.

run.sh, the tests and the benchmark all stop gunicorn and Celery this way; a pool process or a
worker that outlives its parent must not keep running (and keep a port or a database busy).
Each shell below says "ready" once its traps are set, so no signal arrives before them. A
killed child whose parent is gone is reaped by PID 1 in its own time, hence the waits.
"""

import signal
import subprocess

from scripts.processes import group_alive, group_kill, group_start, group_stop
from tests.support.waiting import wait_until


def started(script: str) -> subprocess.Popen[bytes]:
    process = group_start(["sh", "-c", script], output=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def test_a_group_whose_leader_ignores_sigterm_is_killed_after_the_grace_period():
    process = started("trap '' TERM; sleep 60 & echo ready; wait")

    status = group_stop(process, timeout=0.5)

    assert status == -signal.SIGKILL
    wait_until(lambda: not group_alive(process), timeout=30, what="the group to be empty")


def test_a_child_that_outlives_its_leader_is_stopped_with_it():
    """The leader exits on SIGTERM; its child ignores SIGTERM and would run on."""
    process = started("(trap '' TERM; echo ready; exec sleep 60) & exec sleep 60")

    status = group_stop(process, timeout=10)

    assert status == -signal.SIGTERM
    wait_until(lambda: not group_alive(process), timeout=30, what="the group to be empty")


def test_a_killed_group_has_no_process_left():
    process = started("sleep 60 & echo ready; sleep 60")

    group_kill(process)

    assert process.returncode == -signal.SIGKILL
    wait_until(lambda: not group_alive(process), timeout=30, what="the group to be empty")
