"""The checker itself, on small histories written by hand: each violation is found, each
excuse applies only where the contract gives one, and a clean history has none.

No process is started; these run in milliseconds, on both passes of the suite.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

import pytest

from tests.history import checker
from tests.history.checker import Database, check
from tests.history.history import (
    CREATE_CHAT,
    CREATE_MESSAGE,
    MASTER_FAILOVER,
    READ_CHAT,
    READ_MESSAGE,
    REDIS_FLUSHALL,
    REDIS_POWER_LOSS,
    REDIS_SIGTERM,
    WALK,
    Fault,
    Op,
)
from tests.history.sharded import scope, slot_of

APP = "a" * 40
_ids = itertools.count()


def op(kind: str, at: float, outcome: str = "ok", status: int | None = None, **fields: Any) -> Op:
    default_status = {"ok": 201 if kind.startswith("create") else 200, "fail": 404, "unknown": 503}
    return Op(
        id=f"t-{next(_ids)}",
        kind=kind,
        app=APP,
        invoke=at,
        complete=at + 0.01,
        outcome=outcome,  # type: ignore[arg-type]
        status=default_status[outcome] if status is None else status,
        **fields,
    )


def chat(at: float, number: int | None, key: str, outcome: str = "ok") -> Op:
    return op(CREATE_CHAT, at, outcome, key=key, number=number)


def message(at: float, chat_: int, number: int | None, key: str, outcome: str = "ok") -> Op:
    return op(CREATE_MESSAGE, at, outcome, key=key, chat=chat_, number=number, body=f"body {key}")


def db(chats: set[int], messages: dict[tuple[int, int], str]) -> Database:
    return Database(
        chats={APP: chats},
        messages={(APP, c, n): body for (c, n), body in messages.items()},
    )


def kinds(ops: list[Op], database: Database, faults: list[Fault] | None = None) -> dict[str, int]:
    return dict(check(ops, faults or [], database).by_kind())


# A clean history

CLEAN = [
    chat(1.0, 1, "c1"),
    message(1.1, 1, 1, "m1"),
    message(1.2, 1, None, "m2", "unknown"),
    message(1.5, 1, 2, "m2"),  # the retry with the same key: it had number 2
    op(READ_MESSAGE, 1.6, chat=1, number=2, body="body m2", seen="body m2", of="placeholder"),
    op(READ_CHAT, 1.7, "fail", number=900, probe=True),
    message(1.8, 900, None, "p1", "fail"),
    op(WALK, 2.0, chat=1, pages=[[[1, "body m1"]], [[2, "body m2"]]]),
]
CLEAN[4].of = CLEAN[3].id
CLEAN_DB = db({1}, {(1, 1): "body m1", (1, 2): "body m2"})


def test_a_clean_history_has_no_violation():
    assert kinds(CLEAN, CLEAN_DB) == {}


def test_a_number_handed_out_twice_is_found():
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, 1, "m1"), message(3.0, 1, 1, "m2")]
    found = kinds(ops, db({1}, {(1, 1): "body m1"}))
    # m2's 201 is also not persisted with its body.
    assert found == {"duplicate_number": 1, "lost_ok": 1}


def test_a_chat_number_handed_out_twice_is_found_even_across_a_power_loss():
    ops = [chat(1.0, 1, "c1"), chat(3.0, 1, "c2")]
    power_loss = Fault(REDIS_POWER_LOSS, 0.9, 2.0, lost_from=0.9, lost_until=1.5)
    assert kinds(ops, db({1}, {}), [power_loss]) == {"duplicate_number": 1}


def test_a_201_not_persisted_is_lost_unless_in_a_power_loss_window():
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, 1, "m1")]
    assert kinds(ops, db({1}, {})) == {"lost_ok": 1}
    window = Fault(REDIS_POWER_LOSS, 1.0, 2.0, lost_from=1.05, lost_until=1.5)
    result = check(ops, [window], db({1}, {}))
    assert result.violations == []
    assert result.excused == {"lost in a power-loss window": 1}
    # A window that ended before the create excuses nothing.
    earlier = Fault(REDIS_POWER_LOSS, 0.1, 0.5, lost_from=0.1, lost_until=0.4)
    assert kinds(ops, db({1}, {}), [earlier]) == {"lost_ok": 1}


@pytest.fixture
def flush_loses_no_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The contract as written: a FLUSHALL may cost numbers, never rows."""
    monkeypatch.setattr(checker, "FLUSH_MAY_LOSE_ROWS", False)


def test_a_201_lost_to_a_flushall_is_a_violation_of_its_own(flush_loses_no_rows):
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, 1, "m1")]
    flush = Fault(REDIS_FLUSHALL, 1.3, 1.31, lost_from=1.3, lost_until=1.31)
    assert kinds(ops, db({1}, {}), [flush]) == {"lost_in_flush": 1}


def test_a_201_lost_to_a_flushall_is_excused_when_flushes_may_lose_rows(monkeypatch):
    monkeypatch.setattr(checker, "FLUSH_MAY_LOSE_ROWS", True)
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, 1, "m1")]
    flush = Fault(REDIS_FLUSHALL, 1.3, 1.31, lost_from=1.3, lost_until=1.31)
    assert kinds(ops, db({1}, {}), [flush]) == {}


def test_a_row_from_a_refused_create_or_from_nobody_is_found():
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, None, "m1", "fail")]
    found = kinds(ops, db({1}, {(1, 1): "body m1", (1, 2): "nobody sent this"}))
    assert found == {"persisted_from_fail": 1, "untraced_row": 1}


def test_one_create_persisted_twice_is_found_unless_a_loss_fell_between_its_attempts():
    ops = [chat(1.0, 1, "c1"), message(1.1, 1, None, "m1", "unknown"), message(2.0, 1, 2, "m1")]
    rows = db({1}, {(1, 1): "body m1", (1, 2): "body m1"})
    assert kinds(ops, rows) == {"persisted_twice": 1}
    flush = Fault(REDIS_FLUSHALL, 1.5, 1.51, lost_from=1.5, lost_until=1.51)
    assert kinds(ops, rows, [flush]) == {}


@pytest.mark.parametrize("fault_kind", [REDIS_SIGTERM, None])
def test_a_probed_404_chat_used_later_is_a_ghost(fault_kind):
    faults = [Fault(fault_kind, 1.5, 2.0)] if fault_kind else []
    ops = [
        chat(1.0, 1, "c1"),
        op(READ_CHAT, 1.2, "fail", number=500, probe=True),
        message(2.5, 500, 1, "ghost"),
    ]
    result = check(ops, faults, db({1, 500}, {(500, 1): "body ghost"}))
    assert result.by_kind() == {"ghost_chat": 1}
    if fault_kind:
        assert "faults between: redis_sigterm" in result.violations[0].detail


def test_a_probed_404_chat_handed_out_later_by_a_201_is_no_ghost():
    ops = [
        chat(1.0, 1, "c1"),
        op(READ_CHAT, 1.2, "fail", number=2, probe=True),
        chat(1.5, 2, "c2"),
        message(2.5, 2, 1, "m1"),
    ]
    assert kinds(ops, db({1, 2}, {(2, 1): "body m1"})) == {}


def test_more_chats_persisted_than_201s_and_unknowns_explain_is_found():
    ops = [chat(1.0, 1, "c1"), chat(1.1, None, "c2", "unknown")]
    assert kinds(ops, db({1, 7}, {})) == {}  # the unknown create may have been chat 7
    assert kinds(ops, db({1, 7, 8}, {})) == {"untraced_chat": 1}


def test_read_your_writes(flush_loses_no_rows):
    created = message(1.0, 1, 1, "m1")
    base = [chat(0.5, 1, "c1"), created]
    rows = db({1}, {(1, 1): "body m1"})
    other = op(READ_MESSAGE, 1.2, chat=1, number=1, body="body m1", seen="else", of=created.id)
    assert kinds([*base, other], rows) == {"read_your_writes": 1}
    missing = op(READ_MESSAGE, 1.2, "fail", chat=1, number=1, body="body m1", of=created.id)
    assert kinds([*base, missing], rows) == {"read_your_writes": 1}
    unknown = op(READ_MESSAGE, 1.2, "unknown", chat=1, number=1, body="body m1", of=created.id)
    assert kinds([*base, unknown], rows) == {}
    # A 404 across a flush is excused (the loss is counted once, as the row's).
    flush = Fault(REDIS_FLUSHALL, 1.1, 1.11, lost_from=1.1, lost_until=1.11)
    assert kinds([*base, missing], db({1}, {}), [flush]) == {"lost_in_flush": 1}


def test_a_chat_answered_404_after_its_201_is_found():
    ops = [chat(1.0, 1, "c1"), chat(1.1, 2, "c2"), op(READ_CHAT, 2.0, "fail", number=2)]
    assert kinds(ops, db({1, 2}, {})) == {"read_your_writes": 1}


def test_walks_out_of_order_or_unlike_the_database_are_found():
    base = [chat(0.5, 1, "c1"), message(1.0, 1, 1, "m1"), message(1.1, 1, 2, "m2")]
    rows = db({1}, {(1, 1): "body m1", (1, 2): "body m2"})
    twice = op(WALK, 2.0, chat=1, pages=[[[1, "body m1"], [2, "body m2"]], [[2, "body m2"]]])
    assert kinds([*base, twice], rows) == {"walk_order": 1}
    wrong = op(WALK, 2.0, chat=1, pages=[[[1, "body m1"], [2, "body m9"]]])
    assert kinds([*base, wrong], rows) == {"walk_vs_db": 1}


def test_a_5xx_other_than_503_is_found():
    ops = [chat(1.0, 1, "c1"), op(CREATE_CHAT, 1.1, "unknown", status=500, key="c2")]
    assert kinds(ops, db({1}, {})) == {"server_error": 1}


# A Redis Cluster: a failover's loss window applies to the failed master's applications only.

OTHER = "b" * 40  # an application on another master


def on_other(created: Op) -> Op:
    return dataclasses.replace(created, app=OTHER)


def failover(lost_from: float, lost_until: float, apps: list[str]) -> Fault:
    return Fault(
        MASTER_FAILOVER,
        lost_from,
        lost_until + 1.0,
        lost_from=lost_from,
        lost_until=lost_until,
        lost_slots=[[0, 5460]],
        lost_apps=apps,
    )


def test_a_failover_window_excuses_only_its_master_s_applications():
    mine = message(1.1, 1, 1, "m1")
    others = on_other(message(1.1, 1, 1, "o1"))
    reads = [
        op(READ_MESSAGE, 1.5, "fail", chat=1, number=1, body="body m1", of=mine.id),
        on_other(op(READ_MESSAGE, 1.5, "fail", chat=1, number=1, body="body o1", of=others.id)),
    ]
    ops = [chat(1.0, 1, "c1"), on_other(chat(1.0, 1, "o-c1")), mine, others, *reads]
    rows = Database(chats={APP: {1}, OTHER: {1}}, messages={})
    result = check(ops, [failover(1.05, 2.0, [APP])], rows)
    # The other master's 201 and its read are not excused by this master's window.
    assert result.by_kind() == {"lost_ok": 1, "read_your_writes": 1}
    assert all(others.id in violation.detail for violation in result.violations)
    assert result.excused == {"lost in a failover window": 1, "read 404 across a loss window": 1}
    # Unscoped (lost_apps None), the same window covers every application.
    unscoped = dataclasses.replace(failover(1.05, 2.0, [APP]), lost_apps=None)
    assert kinds(ops, rows, [unscoped]) == {}


def test_a_number_repeated_across_a_failover_is_found():
    """The promoted replica never saw message 2 and chat 2, which the dead master handed out
    after the cut: handing them out again is a violation that no window excuses."""
    ops = [
        chat(1.0, 1, "c1"),
        message(1.1, 1, 1, "m1"),
        message(1.3, 1, 2, "m2"),  # acknowledged by the master after the cut, lost with it
        chat(1.4, 2, "c2"),  # likewise
        message(3.0, 1, 2, "m3"),  # after the failover: number 2 again
        chat(3.1, 2, "c3"),  # chat 2 again
    ]
    rows = db({1, 2}, {(1, 1): "body m1", (1, 2): "body m3"})
    found = kinds(ops, rows, [failover(1.2, 2.5, [APP])])
    assert found == {"duplicate_number": 2}


def test_scope_names_the_applications_in_the_failed_master_s_slots():
    tokens = {APP, OTHER}
    assert slot_of(APP) != slot_of(OTHER)
    window = failover(1.0, 2.0, [])
    window = dataclasses.replace(window, lost_slots=[[slot_of(APP), slot_of(APP)]], lost_apps=None)
    flush = Fault(REDIS_FLUSHALL, 1.3, 1.31, lost_from=1.3, lost_until=1.31)
    scoped_window, same_flush = scope([window, flush], tokens)
    assert scoped_window.lost_apps == [APP]
    assert same_flush == flush
