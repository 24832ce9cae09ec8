"""One seed of the history checker, on any topology: traffic and faults, heal, drain, check.

``test_history`` (one standalone Redis) and ``test_history_cluster`` (the pipeline on a Redis
Cluster) differ only in the processes they start (``Cluster`` or ``ShardedCluster``) and in
their nemesis's kinds of fault; both call ``run_seed``, so the clients, the healing, the drain
and the checker are the same code.

Per seed: the processes; a few applications and chats made before the faults;
``CLIENT_PROCESSES`` client processes of ``THREADS_PER_PROCESS`` threads for
``TRAFFIC_SECONDS`` while the nemesis works through its schedule. Then every fault is healed,
creates still of unknown outcome are retried with their Idempotency-Key until they get an
answer, the journal is drained (``manage.py drain_journal``, until the database stops
changing), and the checker compares the history with the rows. The seed fails on any
violation, after printing its row of the table and the first violations in detail.

``HISTORY_SEEDS=50`` runs seeds 1 to 50, ``HISTORY_SEEDS=3,8`` those two, ``HISTORY_SEEDS=7-9``
seeds 7 to 9 (``make soak SEEDS=...``); unset, each test's CI seeds. ``HISTORY_SECONDS`` changes
the traffic's length, ``HISTORY_FAULTS=worker_sigkill,redis_sigterm`` limits the nemesis to
those kinds (a test none of whose kinds is listed skips itself).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.history.checker import Database, check, tokens_of
from tests.history.client import (
    Client,
    ClientConfig,
    Http,
    Knowledge,
)
from tests.history.cluster import Cluster, PrivateMariaDB
from tests.history.history import CREATE_CHAT, Fault, Op, Recorder, read_ops
from tests.history.nemesis import KNOWN_FAULTS, Nemesis
from tests.history.report import Row, details, table
from tests.history.streams import Chain, check_streams, readers_start
from tests.support.harness.process import ServiceProcess
from tests.support.terminal import to_terminal

TRAFFIC_SECONDS = float(os.environ.get("HISTORY_SECONDS", "25"))
CLIENT_PROCESSES = 3
# Chat event streams, each followed by a chain of connections through the faults
# (tests/history/streams.py).
STREAM_READERS = 6
THREADS_PER_PROCESS = 5
APPLICATIONS = 3
CHATS_PER_APPLICATION = 2
# After the run: how long an unknown create is retried, and how long the drain may take.
RESOLVE_SECONDS = 30
DRAIN_SECONDS = 60


def history_seeds(ci_seeds: tuple[int, ...]) -> list[int]:
    """``HISTORY_SEEDS``: unset, ``ci_seeds``; ``N``, seeds 1 to N; ``A-B``, A to B; ``A,B,...``."""
    raw = os.environ.get("HISTORY_SEEDS", "").strip()
    if not raw:
        return list(ci_seeds)
    if raw.isdigit():
        return list(range(1, int(raw) + 1))
    if "-" in raw:
        first, last = raw.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in raw.replace(",", " ").split()]


def history_faults(kinds: tuple[str, ...]) -> tuple[str, ...]:
    """``HISTORY_FAULTS=a,b``: only these of ``kinds`` (to chase one); unset, all of ``kinds``.

    A name no topology knows is an error; the kinds of the other topology are left out, and a
    test left with none is skipped (``HISTORY_FAULTS=master_failover`` runs the cluster's)."""
    raw = os.environ.get("HISTORY_FAULTS", "").strip()
    if not raw:
        return kinds
    listed = raw.replace(",", " ").split()
    unknown = sorted(set(listed) - set(KNOWN_FAULTS))
    if unknown:
        raise ValueError(f"no such fault: {unknown}; the kinds are {KNOWN_FAULTS}")
    chosen = tuple(kind for kind in listed if kind in kinds)
    if not chosen:
        pytest.skip(f"HISTORY_FAULTS names none of this topology's faults {kinds}")
    return chosen


def run_seed(
    seed: int,
    cluster: Cluster,
    make_nemesis: Callable[[], Nemesis],
    history_table: list[Row],
    directory: Path,
    request: pytest.FixtureRequest,
    scope: Callable[[list[Fault], set[str]], list[Fault]] = lambda faults, _tokens: faults,
) -> None:
    """The whole seed; fails on any violation or nemesis error.

    ``scope`` names the applications a scoped loss window applies to, once the history knows
    every application (``sharded.scope`` for a Redis Cluster's failovers)."""
    try:
        cluster.start()
        ops, faults, nemesis_errors, chains = run(seed, cluster, directory, make_nemesis())
        healed = heal_and_drain(seed, cluster, ops)
        db = database_rows(cluster.mariadb, tokens_of(ops))
    except BaseException:
        to_terminal(request.config, cluster.logs_tail())
        raise
    finally:
        cluster.stop()

    faults = scope(faults, tokens_of(ops))
    save(directory, ops, faults, db)
    result = check(ops, faults, db)
    streams = check_streams(chains, ops, faults)
    (directory / "streams.jsonl").write_text("".join(chain.to_json() + "\n" for chain in chains))
    row = Row.of(seed, ops, faults, result)
    history_table.append(row)
    to_terminal(
        request.config,
        f"\n{table([row])}\n{details(seed, result, faults)}"
        + (f"\n  healing: {', '.join(healed)}" if healed else "")
        + f"\n  rows checked: {sum(map(len, db.chats.values()))} chats, "
        f"{len(db.messages)} messages; history in {directory}"
        f"\n  streams: {streams.chains} chains, {streams.connections} connections, "
        f"{streams.events} events, {streams.resets} resets, "
        f"{len(streams.violations)} violations"
        + "".join(f"\n    {violation}" for violation in streams.violations[:10]),
    )
    assert not nemesis_errors, nemesis_errors
    assert not streams.violations, f"seed {seed}: event streams: {streams.violations[:5]}"
    assert not result.violations, f"seed {seed}: {dict(result.by_kind())} (details above)"


def run(
    seed: int, cluster: Cluster, directory: Path, nemesis: Nemesis
) -> tuple[list[Op], list[Fault], list[str], list[Chain]]:
    """Setup, then the clients' traffic and the stream readers under the nemesis; the history,
    the faults and what each reader's chain of connections received."""
    recorder = Recorder()
    setup = _client("setup", seed, cluster, recorder, {}, stop_at=time.monotonic() + 60)
    apps: dict[str, list[int]] = {}
    for _ in range(APPLICATIONS):
        token = setup.create_app()
        assert token is not None, recorder.ops()[-1]
        apps[token] = []
        for _ in range(CHATS_PER_APPLICATION):
            created = setup.create(CREATE_CHAT, token)
            assert created.outcome == "ok", created
            apps[token].append(created.number or 0)

    started_at = time.monotonic() + 1.0  # the clients' interpreters start meanwhile
    stop_at = started_at + TRAFFIC_SECONDS
    clients = []
    for process in range(CLIENT_PROCESSES):
        config = ClientConfig(
            seed=seed,
            process=process,
            threads=THREADS_PER_PROCESS,
            ports=cluster.ports,
            apps=apps,
            stop_at=stop_at,
            output=str(directory / f"history-{process}.jsonl"),
        )
        path = directory / f"client-{process}.json"
        path.write_text(config.to_json())
        clients.append(
            (
                config,
                ServiceProcess(
                    f"history client {process}",
                    [sys.executable, "-m", "tests.history.client", str(path)],
                    dict(os.environ),
                    directory / f"client-{process}.log",
                ),
            )
        )
    readers = readers_start(apps, STREAM_READERS, lambda: cluster.streams_port, seed, stop_at + 1.0)
    nemesis.start(started_at)
    ops = recorder.ops()
    try:
        for config, client in clients:
            code = client.wait(timeout=TRAFFIC_SECONDS + 120)
            log_text = client.log()
            assert code == 0, f"client {config.process} exited {code}:\n{log_text}"
            ops += read_ops(Path(config.output))
    finally:
        nemesis.stop()
        for _, client in clients:
            client.stop()
        for reader in readers:
            reader.join(timeout=15)
    return ops, nemesis.faults, nemesis.errors, [reader.chain for reader in readers]


def _client(
    name: str,
    seed: int,
    cluster: Cluster,
    recorder: Recorder,
    apps: dict[str, list[int]],
    stop_at: float,
) -> Client:
    rng = random.Random(f"{seed}-{name}")  # noqa: S311 - not a secret
    return Client(
        name=name,
        seed=seed,
        http_=Http(cluster.ports, rng),
        recorder=recorder,
        knowledge=Knowledge(apps),
        rng=rng,
        stop_at=stop_at,
    )


def heal_and_drain(seed: int, cluster: Cluster, ops: list[Op]) -> list[str]:
    """Heal every fault, answer the creates still unknown, and persist the whole journal.

    The retries are part of the history (``ops`` grows): a create whose outcome stayed unknown
    is sent again with its Idempotency-Key until it is answered, which is what the contract
    tells a client to do; the answer says which number it had, or that it had none.
    """
    healed = cluster.heal()
    recorder = Recorder()
    resolver = _client("resolver", seed, cluster, recorder, {}, stop_at=float("inf"))
    keys: dict[str, list[Op]] = {}
    for op in ops:
        if op.key is not None:
            keys.setdefault(op.key, []).append(op)
    deadline = time.monotonic() + RESOLVE_SECONDS
    for attempts in keys.values():
        if any(op.outcome != "unknown" for op in attempts):
            continue
        first = attempts[0]
        while time.monotonic() < deadline:
            op = resolver.create_attempt(
                first.kind, first.app, first.key or "", first.chat, first.body, first.probe
            )
            if op.outcome != "unknown":
                break
            time.sleep(0.5)
    ops += recorder.ops()
    if recorder.ops():
        healed.append(f"{len(recorder.ops())} retries of unknown creates")

    deadline = time.monotonic() + DRAIN_SECONDS
    tokens = tokens_of(ops)
    before = database_rows(cluster.mariadb, tokens)
    while True:
        report = cluster.manage("drain_journal").strip()
        time.sleep(1.0)
        after = database_rows(cluster.mariadb, tokens)
        if after == before and report.endswith(" 0 left."):
            break
        assert time.monotonic() < deadline, f"the journal did not drain: {report}"
        before = after
    return healed


def database_rows(mariadb: PrivateMariaDB, tokens: set[str]) -> Database:
    db = Database(chats={token: set() for token in tokens})
    if not tokens:
        return db
    conn = mariadb.connect()
    try:
        cursor = conn.cursor()
        marks = ", ".join(["%s"] * len(tokens))  # placeholders only: no value in the SQL
        apps = f"JOIN applications a ON a.id = c.application_id WHERE a.token IN ({marks})"
        cursor.execute(f"SELECT a.token, c.number FROM chats c {apps}", sorted(tokens))  # noqa: S608
        for token, number in cursor.fetchall():
            db.chats[token].add(int(number))
        cursor.execute(
            f"SELECT a.token, c.number, m.number, m.body FROM messages m "  # noqa: S608
            f"JOIN chats c ON c.id = m.chat_id {apps}",
            sorted(tokens),
        )
        for token, chat, number, body in cursor.fetchall():
            db.messages[(token, int(chat), int(number))] = body
    finally:
        conn.close()
    return db


def save(directory: Path, ops: list[Op], faults: list[Fault], db: Database) -> None:
    """What the checker read, to read again: ``history.jsonl``, ``faults.jsonl``, ``rows.json``."""
    (directory / "history.jsonl").write_text("".join(op.to_json() + "\n" for op in ops))
    (directory / "faults.jsonl").write_text("".join(f.to_json() + "\n" for f in faults))
    rows = {
        "chats": {token: sorted(numbers) for token, numbers in db.chats.items()},
        "messages": [[*place, body] for place, body in sorted(db.messages.items())],
    }
    (directory / "rows.json").write_text(json.dumps(rows, ensure_ascii=False))
