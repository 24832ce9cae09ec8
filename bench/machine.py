"""The machine the figures come from, how busy it is, and the memory of our processes.

psutil reads the processes (their parents, CPU times, children, sockets) and the machine's CPU
times. The one figure it has no reading of on Linux is a process's peak resident set: that is
``VmHWM`` from /proc/<pid>/status, the kernel's own high-water mark, which a sampler could only
approach. A sampler thread reads every child as it appears, so a worker that gunicorn or Celery
replaced during the run is not missed.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import threading
import time
from pathlib import Path

import psutil
from stack import command_run


def machine_describe() -> dict:
    # psutil does not name the CPU: the model is /proc/cpuinfo's.
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    return {
        "nproc": psutil.cpu_count(),
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "memory_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": _versions(),
    }


def _versions() -> dict:
    found = {}
    for name, args in {
        "wrk": ["wrk", "--version"],
        "mariadb": ["mariadb", "--version"],
        "redis-server": ["redis-server", "--version"],
    }.items():
        if shutil.which(args[0]):
            result = command_run(args, timeout=30)
            found[name] = (result.stdout or result.stderr).strip().splitlines()[0]
    from importlib.metadata import version

    for package in ("Django", "djangorestframework", "gunicorn", "celery", "mysqlclient", "redis"):
        found[package] = version(package)
    return found


def git_describe(base_dir: Path) -> dict:
    def git(*args: str) -> str:
        return command_run(["git", *args], cwd=base_dir, timeout=30).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def load_average() -> list[float]:
    return [round(value, 2) for value in psutil.getloadavg()]


def _pytest_pids() -> dict[int, str]:
    """Other engineers' test runs (pid -> command line): they share the 2 cores."""
    found = {}
    for process in psutil.process_iter(["pid", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "pytest" in command and process.info["pid"] != os.getpid():
            found[process.info["pid"]] = command
    return found


def pytest_processes() -> list[str]:
    """Other engineers' test runs: they share the 2 cores and would distort the figures."""
    return [f"{pid} {command}" for pid, command in _pytest_pids().items()]


def machine_wait_idle(*, max_seconds: float, busy_below: float = 0.15) -> dict:
    """Wait (up to ``max_seconds``) for no pytest and under ``busy_below`` of the CPU in use.

    The CPU in use is measured over 10 s; the load average reacts too slowly.
    """
    started = time.monotonic()
    cores = os.cpu_count() or 1
    while True:
        before = sum(machine_busy_seconds())
        time.sleep(10)
        share = (sum(machine_busy_seconds()) - before) / (10 * cores)
        busy = pytest_processes()
        idle = not busy and share < busy_below
        waited = time.monotonic() - started
        if idle or waited >= max_seconds:
            return {
                "waited_s": round(waited, 1),
                "idle": idle,
                "cpu_busy_share_last_10s": round(share, 2),
                "load_average": load_average(),
                "pytest_processes": len(busy),
            }
        print(
            f"  machine busy ({share:.0%} of the CPU, {len(busy)} pytest processes); waiting "
            f"{max_seconds - waited:.0f} s more at most",
            flush=True,
        )


def _process_table() -> dict[int, tuple[int, float, str]]:
    """pid -> (ppid, CPU seconds of the process and of its reaped children, name)."""
    table = {}
    for process in psutil.process_iter(["ppid", "cpu_times", "name"]):
        times = process.info["cpu_times"]
        if times is None:  # gone, or not ours to read
            continue
        cpu = times.user + times.system + times.children_user + times.children_system
        table[process.pid] = (process.info["ppid"], cpu, process.info["name"] or "")
    return table


def others_cpu_seconds() -> dict[int, float]:
    """CPU seconds so far of every pytest process tree (others' test runs), by root pid.

    Test runs here start their own gunicorn and Celery processes under pytest; a process that
    exited is counted in its parent's reaped-children time, so summing the tree loses nothing
    but the last instants of processes that exited between two samples.
    """
    roots = set(_pytest_pids())
    table = _process_table()
    totals: dict[int, float] = {}
    for pid, (_, cpu, _) in table.items():
        ancestor, seen = pid, 0
        while ancestor > 1 and ancestor in table and seen < 64:
            if ancestor in roots and table[ancestor][0] not in roots:
                totals[ancestor] = totals.get(ancestor, 0.0) + cpu
                break
            ancestor, seen = table[ancestor][0], seen + 1
    return totals


def cpu_by_group(trees: dict[str, int], names: dict[str, str]) -> dict[str, float]:
    """CPU seconds so far of each process tree (by root pid) and of processes by name.

    Our own process counts what it reaped (the wrk runs, the migration). The servers named
    (Redis, MariaDB) also serve whoever else uses them at the same time.
    """
    table = _process_table()
    totals = dict.fromkeys([*trees, *names, "bench and wrk"], 0.0)
    roots = {pid: name for name, pid in trees.items()}
    for pid, (_, cpu, comm) in table.items():
        for name, wanted in names.items():
            if comm == wanted:
                totals[name] += cpu
        ancestor, seen = pid, 0
        while ancestor in table and seen < 64:
            if ancestor in roots:
                totals[roots[ancestor]] += cpu
                break
            ancestor, seen = table[ancestor][0], seen + 1
    totals["bench and wrk"] = table.get(os.getpid(), (0, 0.0, ""))[1]
    return totals


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the machine spent so far in processes (steal included) and in interrupts.

    Interrupt time (mostly the softirqs that carry loopback TCP, i.e. our own requests)
    belongs to no process, so it is kept apart from what processes used.
    """
    times = psutil.cpu_times()
    busy = times.user + times.nice + times.system + times.steal
    return busy, times.irq + times.softirq


def others_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds others' test runs used between two samples (runs that started count whole)."""
    return sum(
        cpu - before.get(pid, 0.0) for pid, cpu in after.items() if cpu >= before.get(pid, 0.0)
    )


def _children(pid: int) -> list[int]:
    with contextlib.suppress(psutil.Error):
        return [child.pid for child in psutil.Process(pid).children()]
    return []


def _peak_rss_kib(pid: int) -> int | None:
    """The process's peak resident set (VmHWM), which psutil does not read on Linux."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s*(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


class MemorySampler:
    """Peak RSS (VmHWM) of the children of each named parent process, sampled every second."""

    def __init__(self, parents: dict[str, int], interval: float = 1.0) -> None:
        self.parents = parents
        self.interval = interval
        self.peaks: dict[str, dict[int, int]] = {role: {} for role in parents}
        self.parent_peaks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)

    def start(self) -> MemorySampler:
        self._thread.start()
        return self

    def sample(self) -> None:
        for role, parent in self.parents.items():
            hwm = _peak_rss_kib(parent)
            if hwm is not None:
                self.parent_peaks[role] = max(self.parent_peaks.get(role, 0), hwm)
            for child in _children(parent):
                hwm = _peak_rss_kib(child)
                if hwm is not None:
                    self.peaks[role][child] = max(self.peaks[role].get(child, 0), hwm)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def stop(self) -> dict:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)
        result = {}
        for role, peaks in self.peaks.items():
            result[role] = {
                "child_processes_seen": len(peaks),
                "peak_rss_mib_largest_child": round(max(peaks.values(), default=0) / 1024, 1),
                "peak_rss_mib_parent": round(self.parent_peaks.get(role, 0) / 1024, 1),
            }
        return result


def children(pid: int) -> list[int]:
    return sorted(_children(pid))


def connections_by_process(pids: list[int], port: int) -> list[int]:
    """Established TCP connections to ``port`` that each process holds (has accepted)."""
    counts = []
    for pid in pids:
        held = 0
        with contextlib.suppress(psutil.Error):
            held = sum(
                1
                for connection in psutil.Process(pid).net_connections(kind="tcp")
                if connection.laddr
                and connection.laddr.port == port
                and connection.status == psutil.CONN_ESTABLISHED
            )
        counts.append(held)
    return counts
