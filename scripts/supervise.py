"""Run web (gunicorn), the stream process (live events), the Celery worker, Celery beat and the
proxy (nginx, one port for web and events) in the foreground, for scripts/run.sh.

    python scripts/supervise.py        (run.sh execs it once .venv, Redis and the database are set)

- Each process's output is prefixed with ``[web]``, ``[events]``, ``[worker]``, ``[beat]`` or
  ``[proxy]``.
- The banner is printed once all five are ready: web and events answer ``/healthz`` on their
  internal ports, the proxy on PORT, the worker is consuming and beat has started its
  scheduler (each Celery process touches the file named by ``PROCESS_READY_FILE`` then, see
  chatapi/celery.py).
- A process that exits after the start is started again, with a log line, after 1 s (doubling
  up to 30 s while it keeps exiting within a minute). One that exits before the banner stops
  everything, non-zero: a broken start never looks like a working one.
- Ctrl-C (SIGINT), SIGTERM or SIGHUP stops all five: SIGTERM to each, SIGKILL to what is left
  of their process groups after ``STOP_TIMEOUT`` s; a second Ctrl-C skips the wait. So does the
  end of our output: when the reader of a pipe we write to goes away (``run.sh | head -5``, or
  ``run.sh | tee log`` and Ctrl-C, which kills tee too), we notice and stop everything, even when
  nothing is being written. On Linux each process is also sent SIGTERM if this one dies.

Environment: HOST (127.0.0.1), PORT (8000, the proxy's), EVENTS_PORT (PORT + 1) and WEB_PORT
(PORT + 2): the stream process's and web's own ports, on 127.0.0.1, EVENTS_WORKERS (1),
WEB_WORKERS (2), WORKER_CONCURRENCY (2), LOG_LEVEL
(Celery's level, WARNING; gunicorn's when set), STOP_TIMEOUT (30), READY_TIMEOUT (120), RUN_DIR
(var: the ready files, beat's schedule, gunicorn's control socket, the metrics directories),
METRICS_WORKER_PORT (9808) and METRICS_BEAT_PORT (9809): the worker's and beat's /metrics on
127.0.0.1, DATABASE_URL and STARTED_REDIS (both for the banner only).

The command lines and the start and stop of each process group are scripts/processes.py's, the
same as the tests' and the benchmark's; the proxy's configuration is scripts/proxy.py's; what
is here is the supervision: prefixes, readiness, restarts, the banner and the order of the stop.
"""

from __future__ import annotations

import os
import select
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from processes import (
    celery_beat_command,
    celery_worker_command,
    group_alive,
    group_signal,
    group_start,
    gunicorn_command,
    stream_command,
)
from proxy import listen_address, nginx_command, write_config

PREFIX_WIDTH = 9
RESTART_DELAY_MAX = 30.0
STABLE_AFTER = 60.0  # seconds up after which a process that exits is restarted after 1 s again


@dataclass
class Child:
    name: str
    args: list[str]
    ready_file: Path | None = None  # Celery processes touch it when ready
    ready_url: str | None = None  # gunicorn answers it when ready
    env: dict[str, str] = field(default_factory=dict)  # added to ours
    # Not probed before these are ready: the proxy's probe goes through to web, and each refused
    # one is an error line of nginx, whose output would wake the loop for the next probe at once.
    needs: tuple[str, ...] = ()
    popen: subprocess.Popen[bytes] | None = None
    eof: bool = False  # its output pipe is closed
    ready: bool = False
    started_at: float = 0.0
    restart_at: float | None = None
    restart_delay: float = 1.0
    partial: bytes = b""
    prefix: bytes = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = f"[{self.name}]".ljust(PREFIX_WIDTH).encode()

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen

    @property
    def output_fd(self) -> int:
        if self.process.stdout is None:
            raise RuntimeError(f"{self.name} has no output pipe")
        return self.process.stdout.fileno()

    def start(self) -> None:
        if self.popen is not None and self.popen.stdout is not None:
            self.popen.stdout.close()  # the pipe of the previous run
        if self.ready_file is not None:
            self.ready_file.unlink(missing_ok=True)
        # A session of its own: a terminal's Ctrl-C reaches us only, and we stop them in order.
        # No threads here, so the child may be told to die with us (a preexec_fn).
        self.popen = group_start(
            self.args, output=subprocess.PIPE, env={**os.environ, **self.env}, die_with_parent=True
        )
        os.set_blocking(self.output_fd, False)
        self.eof = False
        self.ready = False
        self.started_at = time.monotonic()
        self.restart_at = None

    def is_ready(self) -> bool:
        if self.ready_file is not None:
            return self.ready_file.exists()
        if self.ready_url is None:
            return True
        try:
            # Patient: gunicorn accepts connections before its workers boot, and every probe
            # that gives up early is still served, and logged, once they have.
            with urllib.request.urlopen(self.ready_url, timeout=5) as response:  # noqa: S310
                return response.status == 200
        except OSError:
            return False

    def group_alive(self) -> bool:
        return self.popen is not None and group_alive(self.popen)

    def signal_group(self, signum: int) -> None:
        if self.popen is not None:
            group_signal(self.popen, signum)


class Supervisor:
    def __init__(self, children: list[Child], banner: str, stop_timeout: float) -> None:
        self.children = children
        self.banner = banner
        self.stop_timeout = stop_timeout
        self.output_open = True
        self.stopping: str | None = None  # why we stop
        self.force = False
        self.status = 0
        self.all_ready_once = False
        stdout_mode = os.fstat(1).st_mode
        # A pipe or socket reports POLLERR/POLLHUP once its reader is gone; a file never does.
        self.watch_stdout = stat.S_ISFIFO(stdout_mode) or stat.S_ISSOCK(stdout_mode)

    # --- output ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.output_open:
            return
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        except (BrokenPipeError, OSError):
            self.output_closed()

    def log(self, text: str) -> None:
        line = f"==> {text}\n".encode()
        if self.output_open:
            self.write(line)
        if not self.output_open:  # say it where someone may still see it
            try:
                sys.stderr.buffer.write(line)
                sys.stderr.buffer.flush()
            except OSError:
                pass

    def output_closed(self) -> None:
        if self.output_open:
            self.output_open = False
            # Drop what Python still buffers for the dead pipe, or exiting would raise again.
            try:
                os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            except OSError:
                pass
            self.stop("our output was closed")

    def forward(self, child: Child, final: bool = False) -> None:
        """Copy what the child wrote, whole lines, each prefixed with its name."""
        chunks = [child.partial]
        while not child.eof:
            try:
                chunk = os.read(child.output_fd, 65536)
            except BlockingIOError:
                break
            if not chunk:
                child.eof = True
            chunks.append(chunk)
        data = b"".join(chunks)
        *lines, child.partial = data.split(b"\n")
        if final and child.partial:
            lines.append(child.partial)
            child.partial = b""
        if lines:
            self.write(b"".join(child.prefix + line + b"\n" for line in lines))

    # --- life cycle -----------------------------------------------------------------------

    def stop(self, why: str) -> None:
        if self.stopping is None:
            self.stopping = why

    def on_signal(self, signum: int, _frame: object) -> None:
        if self.stopping is not None and signum == signal.SIGINT:
            self.force = True  # a second Ctrl-C: no more waiting
        self.stop(f"{signal.Signals(signum).name} received")

    def poll_output(self, timeout: float) -> None:
        poller = select.poll()
        by_fd = {}
        for child in self.children:
            if child.popen is not None and not child.eof:
                fd = child.output_fd
                by_fd[fd] = child
                poller.register(fd, select.POLLIN)
        if self.watch_stdout and self.output_open:
            poller.register(1, 0)  # errors only: POLLERR when the reading end is closed
        try:
            events = poller.poll(timeout * 1000)
        except InterruptedError:
            return
        for fd, event in events:
            if fd == 1:
                if event & (select.POLLERR | select.POLLHUP):
                    self.output_closed()
            elif fd in by_fd:
                self.forward(by_fd[fd])

    def check_children(self) -> None:
        now = time.monotonic()
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.start()
                    self.log(f"{child.name} started again (pid {child.process.pid})")
                continue
            status = child.process.poll()
            if status is not None:
                self.forward(child, final=True)
                if not self.all_ready_once:
                    self.log(f"{child.name} exited ({status}) before it was ready")
                    self.status = 1
                    self.stop(f"{child.name} could not start")
                    return
                if now - child.started_at >= STABLE_AFTER:
                    child.restart_delay = 1.0
                self.log(
                    f"{child.name} exited ({status}); starting it again in "
                    f"{child.restart_delay:.0f}s"
                )
                child.restart_at = now + child.restart_delay
                child.restart_delay = min(child.restart_delay * 2, RESTART_DELAY_MAX)
            elif not child.ready and self.needs_ready(child) and child.is_ready():
                child.ready = True
                if self.all_ready_once:
                    self.log(f"{child.name} is ready again")

    def needs_ready(self, child: Child) -> bool:
        return all(other.ready for other in self.children if other.name in child.needs)

    def run(self, ready_timeout: float) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self.on_signal)
        for child in self.children:
            child.start()
            self.log(f"{child.name} started (pid {child.process.pid})")
        deadline = time.monotonic() + ready_timeout
        while self.stopping is None:
            self.poll_output(0.2)
            if self.stopping is not None:
                break
            self.check_children()
            if not self.all_ready_once and all(child.ready for child in self.children):
                self.all_ready_once = True
                self.write(self.banner.encode())
            if not self.all_ready_once and time.monotonic() > deadline:
                waiting = ", ".join(child.name for child in self.children if not child.ready)
                self.log(f"not ready after {ready_timeout:.0f}s: {waiting}")
                self.status = 1
                self.stop("the start timed out")
        self.shutdown()
        return self.status

    def shutdown(self) -> None:
        *others, last = (child.name for child in self.children)
        self.log(f"{self.stopping}: stopping {', '.join(others)} and {last}")
        running = [child for child in self.children if child.popen is not None]
        for child in running:
            if child.process.poll() is None:
                # The main process only: gunicorn and Celery stop their own children gracefully.
                child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while any(child.group_alive() for child in running):
            if self.force or time.monotonic() > deadline:
                for child in running:
                    if child.group_alive():
                        self.log(f"{child.name} did not stop in time: SIGKILL")
                        child.signal_group(signal.SIGKILL)
                break
            self.poll_output(0.1)
        for child in running:
            child.process.wait()
            self.forward(child, final=True)
        self.log("stopped")


def main() -> int:
    env = os.environ
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    run_dir = Path(env.get("RUN_DIR", "var"))
    run_dir.mkdir(parents=True, exist_ok=True)
    level = env.get("LOG_LEVEL", "WARNING")
    probe = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104 - comparing
    base = f"http://[{probe}]:{port}" if ":" in probe else f"http://{probe}:{port}"
    # Web and the stream process listen on the loopback interface only: clients reach both
    # through the proxy on HOST:PORT.
    web_bind = f"127.0.0.1:{env.get('WEB_PORT', str(int(port) + 2))}"
    events_bind = f"127.0.0.1:{env.get('EVENTS_PORT', str(int(port) + 1))}"
    proxy_config = write_config(
        listen=listen_address(host, port),
        web=web_bind,
        events=events_bind,
        prefix=run_dir / "nginx",
    )

    web = gunicorn_command(
        bind=web_bind,
        workers=int(env.get("WEB_WORKERS", "2")),
        threads=4,
        access_log=True,
        control_socket=str(run_dir / "gunicorn.ctl"),
        log_level=env.get("LOG_LEVEL"),
    )
    # Celery's start-up banner only when its INFO lines are wanted too.
    quiet = level.upper() not in ("DEBUG", "INFO")
    worker = celery_worker_command(
        concurrency=int(env.get("WORKER_CONCURRENCY", "2")), log_level=level, quiet=quiet
    )
    beat = celery_beat_command(
        schedule=run_dir / "celerybeat-schedule", log_level=level, quiet=quiet
    )
    # The stream process: the live event streams (docs/events.md) on ASGI, behind the proxy.
    events = stream_command(
        bind=events_bind,
        workers=int(env.get("EVENTS_WORKERS", "1")),
        log_level=env.get("LOG_LEVEL"),
    )
    children = [
        Child("web", web, ready_url=f"http://{web_bind}/healthz"),
        Child("events", events, ready_url=f"http://{events_bind}/healthz"),
        Child("worker", worker, ready_file=run_dir / "worker.ready"),
        Child("beat", beat, ready_file=run_dir / "beat.ready"),
        Child("proxy", nginx_command(proxy_config), ready_url=f"{base}/healthz", needs=("web",)),
    ]
    for child in children:
        if child.ready_file is not None:
            child.env["PROCESS_READY_FILE"] = str(child.ready_file.resolve())
        # prometheus-client's multiprocess mode: a directory per server, emptied by the server
        # when it starts (core/metrics/multiprocess.py).
        child.env["PROMETHEUS_MULTIPROC_DIR"] = str((run_dir / "metrics" / child.name).resolve())
    # The worker's and beat's own metrics ports (the API's is GET /metrics on PORT).
    worker_metrics = env.get("METRICS_WORKER_PORT", "9808")
    beat_metrics = env.get("METRICS_BEAT_PORT", "9809")
    by_name = {child.name: child for child in children}
    by_name["worker"].env["METRICS_WORKER_PORT"] = worker_metrics
    by_name["beat"].env["METRICS_BEAT_PORT"] = beat_metrics

    database = "the one DATABASE_URL names" if env.get("DATABASE_URL") else "SQLite file db.sqlite3"
    redis_note = ""
    if env.get("STARTED_REDIS") == "1":
        redis_note = "  The Redis this script started keeps running after Ctrl-C; stop it: "
        redis_note += "kill $(cat var/redis.pid)\n"
    create = """curl -sS -X POST -H 'Content-Type: application/json' -d '{"name": "demo"}'"""
    banner = f"""
  The chat API is up on {base} (Ctrl-C stops web, events, worker, beat and proxy):
    Docs     {base}/api/docs/  (ReDoc: {base}/api/redoc/)
    API      {base}/api/v1/apps  (POST creates an application; GET lists them, operators only)
    Schema   {base}/api/schema/?format=json
    Admin    {base}/admin/
    Metrics  {base}/metrics (staff or METRICS_TOKEN); :{worker_metrics} worker, :{beat_metrics} beat
    Events   {base}/api/v1/apps/<token>/events  (Server-Sent Events: docs/events.md)
  Try:       {create} {base}/api/v1/apps
  Admin user: .venv/bin/python manage.py createsuperuser
  Database:  {database}
{redis_note}
"""
    supervisor = Supervisor(children, banner, float(env.get("STOP_TIMEOUT", "30")))
    return supervisor.run(float(env.get("READY_TIMEOUT", "120")))


if __name__ == "__main__":
    sys.exit(main())
