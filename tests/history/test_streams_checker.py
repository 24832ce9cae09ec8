"""The stream checker (tests/history/streams.py) on chains written by hand: each violation is
found, a reset excuses a gap and only a gap, a loss window excuses only an event in it.

No process is started.
"""

from __future__ import annotations

import itertools

from tests.history.history import CREATE_MESSAGE, REDIS_POWER_LOSS, Fault, Op
from tests.history.streams import Chain, check_streams

APP = "a" * 40
_ids = itertools.count()


def created(number: int, at: float, outcome: str = "ok") -> Op:
    return Op(
        id=f"s-{next(_ids)}",
        kind=CREATE_MESSAGE,
        app=APP,
        invoke=at - 0.01,
        complete=at,
        outcome=outcome,  # type: ignore[arg-type]
        status=201 if outcome == "ok" else 503,
        chat=1,
        number=number if outcome == "ok" else None,
    )


def chain(*entries: list) -> Chain:
    return Chain(reader=0, app=APP, chat=1, started=0.0, entries=[["open", 0.0, 200], *entries])


def event(number: int, at: float, kind: str = "message.created") -> list:
    return ["event", at, kind, number]


OPS = [created(n, float(n)) for n in range(1, 6)]


def test_every_event_once_in_order_is_clean():
    result = check_streams([chain(*(event(n, n + 0.5) for n in range(1, 6)))], OPS, [])
    assert result.violations == []
    assert (result.connections, result.events) == (1, 5)


def test_a_gap_is_found_and_a_reset_before_it_excuses_it():
    gap = chain(event(1, 1.5), event(2, 2.5), event(5, 5.5))
    told = chain(event(1, 1.5), event(2, 2.5), ["reset", 4.0], event(5, 5.5))
    assert [v.split(": ", 1)[1] for v in check_streams([gap], OPS, []).violations] == [
        "gap without reset: [3, 4] between 2 and 5"
    ]
    assert check_streams([told], OPS, []).violations == []


def test_a_repeat_or_a_step_back_is_found_even_after_a_reset():
    repeated = chain(event(1, 1.5), event(2, 2.5), ["reset", 3.0], event(2, 3.5))
    backwards = chain(event(1, 1.5), event(3, 3.5), event(2, 3.6))
    assert len(check_streams([repeated], OPS, []).violations) == 1
    assert any("after 3" in v for v in check_streams([backwards], OPS, []).violations)


def test_an_event_for_a_number_never_handed_out_is_found_unless_in_a_loss_window():
    ghost = chain(*(event(n, n + 0.5) for n in range(1, 7)))
    assert any("never handed out" in v for v in check_streams([ghost], OPS, []).violations)
    loss = Fault(REDIS_POWER_LOSS, start=6.0, end=8.0, lost_from=6.0, lost_until=7.0)
    assert check_streams([ghost], OPS, [loss]).violations == []


def test_an_update_before_its_create_is_found():
    early = chain(event(1, 1.5), event(2, 1.9, "message.updated"), event(2, 2.5))
    assert any("before its created" in v for v in check_streams([early], OPS, []).violations)
