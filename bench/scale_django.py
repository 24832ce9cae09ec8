"""The in-process part of the scale phase (bench/scale.py): run with the service's environment.

    .venv/bin/python bench/scale_django.py <token of the largest chat> <its number>

Prints one JSON line: the query and the rendering of a page of 50 apart, the admin pages, the
database side of the reindex and the full sweep of the counters. Everything runs against the
scale database with DEBUG off (the test settings: production's database and cache settings, with
static files served from the apps, so that the admin renders without collectstatic).
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from pathlib import Path
from statistics import median

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.test")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.renderers import JSONRenderer  # noqa: E402

from applications.models import Application  # noqa: E402
from chats.models import Chat  # noqa: E402
from messages_app.models import Message  # noqa: E402
from messages_app.seeding import ABSENT_TERM, RARE_TERM  # noqa: E402
from pipeline.counters import counts_refresh_all  # noqa: E402


def ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def page_parts(chat: Chat) -> dict:
    """A page of 50 as the API reads it, with the query and the rendering timed apart."""
    from core.pagination import number_page_rows
    from messages_app.apis import messages_render
    from messages_app.selectors import message_list

    rng = random.Random(5)
    query, render = [], []
    for _ in range(300):
        after = rng.randint(0, chat.messages_count)
        started = time.perf_counter()
        rows = number_page_rows(message_list(chat=chat), after=after, before=None, limit=50)
        query.append(ms(started))
        started = time.perf_counter()
        JSONRenderer().render({"results": messages_render(rows[:50]), "next": None})
        render.append(ms(started))
    return {
        "query_p50_ms": p(query, 0.5),
        "query_p99_ms": p(query, 0.99),
        "render_p50_ms": p(render, 0.5),
        "render_p99_ms": p(render, 0.99),
    }


def page_parts_before(chat: Chat) -> dict:
    """The same on a commit whose messages_app has no ``messages_render`` (the bench measures
    older commits for their figures): the ORM query and DRF's serializer."""
    from messages_app.apis import MessageOutputSerializer

    rng = random.Random(5)
    query, render = [], []
    for _ in range(300):
        after = rng.randint(0, chat.messages_count)
        started = time.perf_counter()
        rows = list(Message.objects.filter(chat=chat, number__gt=after).order_by("number")[:51])
        query.append(ms(started))
        started = time.perf_counter()
        JSONRenderer().render({"results": MessageOutputSerializer(rows[:50], many=True).data})
        render.append(ms(started))
    return {
        "query_p50_ms": p(query, 0.5),
        "query_p99_ms": p(query, 0.99),
        "render_p50_ms": p(render, 0.5),
        "render_p99_ms": p(render, 0.99),
    }


def admin_pages(chat: Chat, slow: bool, repeats: int) -> dict:
    user, _ = get_user_model().objects.get_or_create(
        username="scale-bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    token = chat.application.token
    message = Message.objects.filter(chat=chat).order_by("number").first()
    if message is None:
        raise SystemExit(f"chat {chat.pk} has no messages: seed first")
    urls = {
        "messages": "/admin/messages_app/message/",
        "messages page 50": "/admin/messages_app/message/?p=50",
        "messages by token": f"/admin/messages_app/message/?q={token}",
        "messages by token and chat": f"/admin/messages_app/message/?q={token}+{chat.number}",
        "messages of the largest chat": f"/admin/messages_app/message/?chat__id__exact={chat.pk}",
        "messages of the largest chat, page 50": (
            f"/admin/messages_app/message/?chat__id__exact={chat.pk}&p=50"
        ),
        "body search in the largest chat (rare term)": (
            f"/admin/messages_app/message/?chat__id__exact={chat.pk}&q={RARE_TERM}"
        ),
        "body search in the largest chat (absent term)": (
            f"/admin/messages_app/message/?chat__id__exact={chat.pk}&q={ABSENT_TERM}"
        ),
        "message change page": f"/admin/messages_app/message/{message.pk}/change/",
        "chats": "/admin/chats/chat/",
        "chats by token": f"/admin/chats/chat/?q={token}",
        "applications": "/admin/applications/application/",
        "application change page": f"/admin/applications/application/{chat.application_id}/change/",
        "delete page of the largest chat": f"/admin/chats/chat/{chat.pk}/delete/",
    }
    # With applications.deletion the application's delete page counts the rows; on a commit
    # without it (an older one, measured for comparison) it lists every row.
    try:
        import applications.deletion  # noqa: F401

        slow = True
    except ImportError:
        pass
    if slow:
        urls["delete page of its application"] = (
            f"/admin/applications/application/{chat.application_id}/delete/"
        )
    figures: dict[str, float] = {}
    statuses: dict[str, int | str] = {}
    for name, url in urls.items():
        print(f"admin: {name}", file=sys.stderr, flush=True)
        samples = []
        for _ in range(1 if "delete" in name else repeats):
            started = time.perf_counter()
            try:
                response = client.get(url)
                statuses[name] = response.status_code
            except Exception as exc:  # a 500 is a figure too
                statuses[name] = f"{type(exc).__name__}"
            samples.append(ms(started))
        figures[name] = median(samples)
    return {"admin_ms": figures, "admin_status": statuses}


def reindex_reads() -> float:
    """Messages/s of the reindex's database side: its batches at random places in the table."""
    batches = 20
    try:
        from search.indexing import messages_batch_for_index
    except ImportError:  # an older commit: the command's own query, a JOIN (fewer: it is slow)
        from search.indexing import messages_for_index

        batches = 3

        def messages_batch_for_index(*, after_pk: int, size: int) -> list[Message]:
            return list(messages_for_index().order_by("pk").filter(pk__gt=after_pk)[:size])

    highest = Message.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    rng = random.Random(9)
    total, started = 0, time.perf_counter()
    for _ in range(batches):
        batch = messages_batch_for_index(after_pk=rng.randint(0, highest), size=1000)
        for message in batch:  # what the documents read of each row
            message.chat.application.token  # noqa: B018
        total += len(batch)
    return round(total / (time.perf_counter() - started))


def section(results: dict, name: str, measure) -> None:
    """One figure; an error (a 500, a lost temporary table) is recorded as the figure."""
    print(f"section: {name}", file=sys.stderr, flush=True)
    try:
        value = measure()
    except Exception as exc:
        value = {"error": f"{type(exc).__name__}: {exc}"[:500]}
    if isinstance(value, dict) and name in ("admin",):
        results.update(value)
    else:
        results[name] = value


def counts_sweep() -> dict:
    """The full sweep twice: with every counter right (the hourly case), and repairing every
    counter (all set to 0 first). The longest UPDATE is how long chat rows stay locked."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    figures = {}
    for case in ("exact", "repair"):
        if case == "repair":
            Chat.objects.update(messages_count=0)
            Application.objects.update(chats_count=0)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            counts_refresh_all()
            seconds = time.perf_counter() - started
        updates = [float(q["time"]) for q in queries if q["sql"].startswith("UPDATE")]
        figures[case] = {
            "seconds": round(seconds, 2),
            "statements": len(queries),
            "updates": len(updates),
            "longest_update_ms": round(max(updates, default=0) * 1000, 1),
        }
    return figures


def main() -> None:
    token, number = sys.argv[1], int(sys.argv[2])
    repeats = next((int(a.split("=")[1]) for a in sys.argv if a.startswith("--repeats=")), 3)
    chat = Chat.objects.select_related("application").get(
        application=Application.objects.get(token=token), number=number
    )
    results: dict = {}

    def parts() -> dict:
        try:
            return page_parts(chat)
        except ImportError:
            return page_parts_before(chat)

    section(results, "page_parts", parts)
    section(results, "admin", lambda: admin_pages(chat, "--slow" in sys.argv, repeats))
    section(results, "reindex_database_messages_per_s", reindex_reads)
    section(results, "counts_full_sweep", counts_sweep)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
