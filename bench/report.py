"""The benchmark's targets, the printed table and the results file."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def target(name: str, measured: float | None, limit: float, *, at_least: bool, unit: str) -> dict:
    """PASS or MISS; a miss says by how much, as measured / limit."""
    if measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return {"target": name, "measured": None, "limit": limit, "verdict": "MISS (no figure)"}
    passed = measured >= limit if at_least else measured < limit
    ratio = measured / limit if limit else math.inf
    if passed:
        verdict = "PASS"
    elif at_least:
        verdict = f"MISS: {ratio:.2f}x the target"
    else:
        verdict = f"MISS: {ratio:.2f}x the limit"
    return {
        "target": name,
        "measured": measured,
        "limit": limit,
        "comparison": ">=" if at_least else "<",
        "unit": unit,
        "ratio_to_limit": round(ratio, 3) if math.isfinite(ratio) else None,
        "verdict": verdict,
    }


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "inf"
    return f"{value:,.{digits}f}"


def table_print(results: dict) -> None:
    runs = results["runs"]
    floor_rps = runs.get("floor", {}).get("requests_per_s")
    print()
    print(
        f"{'phase':<34} {'conns':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'/floor':>7}"
    )
    for key, label in (
        ("floor", "framework floor  GET /healthz"),
        ("message_create", "create message  POST .../messages"),
        ("message_create_worker_paused", "  same, Celery consumer paused"),
        ("chat_create", "create chat     POST .../chats"),
        ("message_list", "read page of 50 (100k-msg chat)"),
        ("message_list_single", "  same, 1 connection"),
        ("message_search", "search (SQL backend, 100k chat)"),
    ):
        run = runs.get(key)
        if not run:
            continue
        ratio = run["requests_per_s"] / floor_rps if floor_rps else None
        print(
            f"{label:<34} {run['connections']:>5} {_num(run['requests_per_s']):>9} "
            f"{_num(run['latency_ms']['p50'], 2):>8} {_num(run['latency_ms']['p99'], 2):>8} "
            f"{run['errors']:>7} {_num(ratio, 2):>7}"
        )
    persistence = results.get("persistence", {})
    load = persistence.get("under_load", {})
    drain = persistence.get("drain", {})
    lag = persistence.get("lag_probe", {})
    if load:
        print()
        basis = (
            "at least (the queue emptied within "
            f"{load.get('capacity_span_s')} s: no longer span to measure)"
            if load.get("capacity_lower_bound")
            else f"at capacity (over the {load.get('capacity_span_s')} s the queue was not empty)"
        )
        print(
            f"persistence under load: {_num(load.get('persisted_per_s_capacity'))} rows/s "
            f"{basis}; {_num(load.get('persisted_per_s_window'))} rows/s over the whole "
            f"{load.get('window_s')} s window; queue {load.get('backlog_at_start')} -> "
            f"{load.get('backlog_at_end')}"
        )
    if drain:
        tail = "" if drain["drained"] else f" NOT drained, {drain['rows_left']} rows left"
        print(
            f"drain after load: {drain['drain_s']} s for {drain['backlog_at_stop']} queued "
            f"({_num(drain.get('drain_rows_per_s'))} rows/s){tail}"
        )
    if lag:
        print(
            f"201 -> row readable at {lag['target_rate_per_s']}/s: p50 {_num(lag['lag_ms']['p50'])}"
            f" ms, p99 {_num(lag['lag_ms']['p99'])} ms, max {_num(lag['lag_ms']['max'])} ms "
            f"({lag['created']} messages, {lag['rows_never_seen']} never seen)"
        )
    memory = results.get("memory", {})
    if memory:
        print(
            "peak RSS: gunicorn worker "
            f"{memory['gunicorn']['peak_rss_mib_largest_child']} MiB, Celery pool process "
            f"{memory['celery']['peak_rss_mib_largest_child']} MiB (Celery main process "
            f"{memory['celery']['peak_rss_mib_parent']} MiB)"
        )
    measured = [p for p in results.get("phases", []) if p.get("measured") and "cores_used" in p]
    if measured:
        names = list(measured[0]["cores_used"])
        short = {"redis-server": "redis", "bench and wrk": "bench+wrk", "everything else": "others"}
        heads = [short.get(n, n) for n in names]
        print(f"{'cores kept busy (of 2) per phase':<44}" + "".join(f"{h:>11}" for h in heads))
        for p in measured:
            cores = "".join(f"{p['cores_used'].get(n, 0):>11.2f}" for n in names)
            print(f"  {p['phase'][:42]:<42}{cores}")
    shares = [
        p["others_share_of_machine"]
        for p in results.get("phases", [])
        if p.get("measured") and "seconds" in p
    ]
    if shares:
        print(
            f"other processes (not ours, Redis, MariaDB or interrupts) used {max(shares):.0%} of "
            f"the machine at most in a measured phase, {sum(shares) / len(shares):.0%} on average; "
            f"load average before {results['load_before']['load_average']}, after "
            f"{results['load_after']}"
        )
    print()
    print(f"{'target':<58} {'measured':>10}  verdict")
    for item in results["targets"]:
        shown = ("≥ " if item.get("lower_bound") else "") + _num(item["measured"], 2)
        print(f"{item['target']:<58} {shown:>10}  {item['verdict']}")
    print()


def results_path(today: date | None = None) -> Path:
    """bench/results/<date>.json; a second run the same day gets -2, -3... (never overwrites)."""
    stem = (today or date.today()).isoformat()  # noqa: DTZ011 - the local date names the file
    path = RESULTS_DIR / f"{stem}.json"
    suffix = 2
    while path.exists():
        path = RESULTS_DIR / f"{stem}-{suffix}.json"
        suffix += 1
    return path


def results_write(results: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isinf(value):
        return None
    raise TypeError(f"not JSON: {value!r}")
