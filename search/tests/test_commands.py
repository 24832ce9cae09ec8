"""The reindex commands: the project's search_reindex, and django-elasticsearch-dsl's search_index.

What gets indexed runs against the real engine (``real_es``, osmem behind its proxy). The
request sequences of --recreate, of the package's command and of an interrupted run are pinned
against a local recording server (search/tests/fake_elasticsearch.py), which answers what a
test scripts (an alias, a failure at the right moment).
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from search.tests.fake_elasticsearch import Reply

pytestmark = pytest.mark.django_db

INDEX = "chatapi-messages"


def test_reindex_needs_elasticsearch(settings) -> None:
    settings.ELASTICSEARCH_URL = ""

    with pytest.raises(CommandError, match="ELASTICSEARCH_URL is not set"):
        call_command("search_reindex")


def _indexed_ids() -> list[str]:
    from search.backends.elasticsearch import es_client, index_name

    es_client().indices.refresh(index=index_name())
    found = es_client().search(index=index_name(), query={"match_all": {}}, size=100)
    return sorted(hit["_id"] for hit in found["hits"]["hits"])


def test_reindex_creates_the_index_and_indexes_in_batches(real_es, chat_factory, capsys) -> None:
    """Against the real engine: a missing index is created, every message gets in."""
    from search.backends.elasticsearch import es_client, index_name

    chat = chat_factory(["a", "b", "c", "d", "e"])
    key = f"{chat.application.token}-{chat.number}"
    es_client().indices.delete(index=index_name())
    out = StringIO()

    call_command("search_reindex", "--batch-size", "2", stdout=out)

    assert _indexed_ids() == [f"{key}-{n}" for n in range(1, 6)]
    mapping = es_client().indices.get_mapping(index=index_name())[index_name()]["mappings"]
    assert mapping["properties"]["body_folded"]["type"] == "wildcard"
    assert out.getvalue() == f"Indexed 5 messages into {index_name()}.\n"
    assert "messages=5" in capsys.readouterr().err  # the progress bar


def test_reindex_can_run_again(real_es, chat_factory) -> None:
    """A second run rewrites the same documents (409s for the same versions are no failure)."""
    chat = chat_factory(["a", "b"])
    key = f"{chat.application.token}-{chat.number}"
    call_command("search_reindex", "--no-progress", stdout=StringIO())

    call_command("search_reindex", "--no-progress", stdout=StringIO())

    assert _indexed_ids() == [f"{key}-1", f"{key}-2"]


def test_reindex_goes_on_after_a_message_id(real_es, chat_factory) -> None:
    """``--after`` resumes where an interrupted run stopped."""
    chat = chat_factory(["a", "b", "c"])
    key = f"{chat.application.token}-{chat.number}"
    first = chat.messages.order_by("pk").first()

    call_command("search_reindex", "--after", str(first.pk), "--no-progress", stdout=StringIO())

    assert _indexed_ids() == [f"{key}-2", f"{key}-3"]


def test_reindex_recreate_replaces_the_index(fake_es, chat_factory) -> None:
    """Not an integration test: delete, create with the current mapping, then index."""
    chat_factory(["a"])
    fake_es.replies[("HEAD", f"/_alias/{INDEX}")] = Reply(404)

    call_command("search_reindex", "--recreate", "--no-progress", stdout=StringIO())

    assert [(r.method, r.path) for r in fake_es.requests] == [
        ("HEAD", f"/_alias/{INDEX}"),
        ("DELETE", f"/{INDEX}"),
        ("PUT", f"/{INDEX}"),
        ("PUT", "/_bulk"),  # no check that the index exists before every batch
    ]


def test_reindex_recreate_behind_an_alias_deletes_the_indices_it_names(
    fake_es, chat_factory
) -> None:
    """Not an integration test: after `search_index --rebuild --use-alias`, the name is an alias."""
    chat_factory(["a"])
    fake_es.reply("GET", f"/_alias/{INDEX}", body={f"{INDEX}-2026": {"aliases": {INDEX: {}}}})

    call_command("search_reindex", "--recreate", "--no-progress", stdout=StringIO())

    assert [(r.method, r.path) for r in fake_es.requests[:4]] == [
        ("HEAD", f"/_alias/{INDEX}"),
        ("GET", f"/_alias/{INDEX}"),
        ("DELETE", f"/{INDEX}-2026"),
        ("PUT", f"/{INDEX}"),
    ]


def test_the_packages_search_index_rebuild_uses_our_document(fake_es, chat_factory) -> None:
    """Not an integration test: django-elasticsearch-dsl's command sends our mapping and actions."""
    chat = chat_factory(["Hello", "World"])
    key = f"{chat.application.token}-{chat.number}"

    call_command("search_index", "--rebuild", "-f", stdout=StringIO())

    assert [(r.method, r.path) for r in fake_es.requests] == [
        ("GET", "/_alias"),
        ("DELETE", f"/{INDEX}"),
        ("PUT", f"/{INDEX}"),
        ("PUT", "/_bulk"),
    ]
    assert fake_es.requests[2].json()["mappings"]["properties"]["body_folded"] == {
        "type": "wildcard"
    }
    actions = fake_es.requests[3].ndjson()
    assert [a["index"]["_id"] for a in actions[0::2]] == [f"{key}-1", f"{key}-2"]
    assert {a["index"]["routing"] for a in actions[0::2]} == {key}
    assert [s["body_folded"] for s in actions[1::2]] == ["hello", "world"]
    assert "refresh" not in fake_es.requests[3].params


def test_reindex_reads_each_batch_without_a_join(fake_es, chat_factory) -> None:
    """Not an integration test: a range of the primary key, then chats and applications by id."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    chat_factory(["a", "b", "c"])

    with CaptureQueriesContext(connection) as queries:
        call_command("search_reindex", "--batch-size", "2", "--no-progress", stdout=StringIO())

    sql = [q["sql"] for q in queries]
    assert not [q for q in sql if "JOIN" in q], sql
    assert len([q for q in sql if 'FROM "messages"' in q or "FROM `messages`" in q]) == 4


def test_ctrl_c_stops_the_reindex_with_a_line_saying_it_is_safe(
    fake_es, chat_factory, capsys
) -> None:
    """Not an integration test: a real SIGINT arrives while the second batch is being sent."""
    import os
    import signal

    chat_factory(["a", "b", "c", "d", "e"])
    answer, bulks = fake_es.answer, []

    def interrupting(request):  # runs in the fake's server thread
        if request.path == "/_bulk":
            bulks.append(request)
            if len(bulks) == 2:
                os.kill(os.getpid(), signal.SIGINT)
        return answer(request)

    fake_es.answer = interrupting

    with pytest.raises(CommandError) as raised:
        call_command("search_reindex", "--batch-size", "2", "--no-progress", stdout=StringIO())

    assert raised.value.returncode == 130
    err = capsys.readouterr().err
    assert "Interrupted after" in err and "safe to run again" in err and "--after" in err


def test_reindex_keeps_the_client_log_lines_out_of_the_bar(fake_es, chat_factory, caplog):
    """Not an integration test: one INFO line per request would break the bar every batch."""
    import logging

    chat_factory(["a", "b", "c"])
    caplog.set_level(logging.INFO)

    call_command("search_reindex", "--batch-size", "1", stdout=StringIO())

    assert not [r for r in caplog.records if r.name.startswith("elastic")]
    assert logging.getLogger("elastic_transport.transport").level == logging.NOTSET  # restored


@pytest.mark.parametrize(
    "args,code", [(["--help"], 0), (["--rebuild", "-f"], 1), (["--populate"], 1)]
)
def test_search_index_without_elasticsearch_says_so_in_one_line(args, code) -> None:
    import os
    import sys

    from tests.support.harness.process import command_run

    env = {k: v for k, v in os.environ.items() if k != "ELASTICSEARCH_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "chatapi.settings.test"
    result = command_run([sys.executable, "manage.py", "search_index", *args], env=env, timeout=60)

    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    said = (result.stdout if code == 0 else result.stderr).splitlines()
    assert said[0].startswith("ELASTICSEARCH_URL is not set: search is served by the SQL")
    if code == 0:
        assert "--rebuild" in result.stdout  # and the options follow
    else:
        assert len(said) == 1
