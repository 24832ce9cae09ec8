"""The Elasticsearch index of messages: one document per message, for django-elasticsearch-dsl.

Mapping, in short (docs/search.md has the reasoning):

- ``body``: the message text through an n-gram analyzer (3 to 8 characters, lowercased) at index
  and at search time. A query term is analyzed into its n-grams and all of them must be there
  (``operator: and``), which finds a term inside a word and gives the score.
- ``body_folded``: the body case-folded in Python (search.terms.text_fold) in a ``wildcard``
  field. ``*term*`` on it is the exact substring check: it serves the terms shorter than the
  n-gram minimum, and confirms the longer ones, whose n-grams could all occur without the term
  itself. The fold is done here rather than with ``case_insensitive``, which folds ASCII only.
- ``chat``: ``<token>-<chat number>``, the keyword every search filters on. It is also the
  routing key, so a chat's messages live on one shard and a search asks that shard only. Searches
  fetch only the message fields, so it never reaches a client.
- The score ignores how common a gram is in the whole index (no IDF, see SIMILARITY), so a
  message's score depends only on the query and that message: a ``search_after`` cursor stays
  exact while other messages are being indexed.

Document ids are ``<token>-<chat number>-<message number>`` and every write carries the message's
``updated_at`` as an external version: re-indexing and redelivered tasks overwrite a document
with the same or newer text, never with an older snapshot.
"""

from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django_elasticsearch_dsl import Document, fields
from django_elasticsearch_dsl.registries import registry
from elasticsearch.dsl import MetaField, analyzer, char_filter, tokenizer
from elasticsearch.dsl.field import Wildcard

from messages_app.models import Message
from search.terms import text_fold

NGRAM_MIN = 3
NGRAM_MAX = 8
SIMILARITY = "message_substring"

MESSAGE_NGRAM = analyzer(
    "message_ngram",
    # Lucene lowercases Σ to σ but leaves ς alone; text_fold maps both to σ.
    char_filter=[char_filter("message_final_sigma", "mapping", mappings=["\u03c2 => \u03c3"])],
    # White space (and marks and controls) end a gram: a query term never contains them, so the
    # grams of a term are always among the grams of a body that contains it.
    tokenizer=tokenizer(
        "message_ngram",
        "ngram",
        min_gram=NGRAM_MIN,
        max_gram=NGRAM_MAX,
        token_chars=["letter", "digit", "punctuation", "symbol"],
    ),
    filter=["lowercase"],
)

# BM25's saturation of term frequency and length normalisation, without its IDF and with a fixed
# typical length: the score of a message is a function of the query and that message only. BM25
# would reorder matches whenever any other message is indexed, so a search_after cursor could
# skip or repeat hits between two pages; it also differs between shards. Every gram of the
# query must match anyway (operator "and"), so IDF would only weigh grams against each other.
# https://www.elastic.co/docs/reference/elasticsearch/index-settings/similarity#scripted_similarity
SIMILARITY_SCRIPT = (
    "double tf = doc.freq; "
    "double norm = 0.25 + 0.75 * doc.length / 256.0; "
    "return query.boost * tf / (tf + 1.2 * norm);"
)


class WildcardField(fields.DEDField, Wildcard):
    """django-elasticsearch-dsl ships no wildcard field; this is how it builds the others."""


def chat_key(token: str, chat_number: int) -> str:
    return f"{token}-{chat_number}"


def message_document_id(token: str, chat_number: int, number: int) -> str:
    return f"{token}-{chat_number}-{number}"


def message_version(message: Message) -> int:
    """``updated_at`` in microseconds: edits only ever move it forward (messages_app)."""
    return (message.updated_at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@registry.register_document
class MessageDocument(Document):
    chat = fields.KeywordField()
    number = fields.LongField()
    body = fields.TextField(analyzer=MESSAGE_NGRAM, similarity=SIMILARITY)
    body_folded = WildcardField()
    # Only ever returned, never searched or sorted on.
    created_at = fields.DateField(index=False)
    updated_at = fields.DateField(index=False)

    class Index:
        name = settings.ELASTICSEARCH_INDEX
        settings = {
            "number_of_shards": 1,
            "number_of_replicas": settings.ELASTICSEARCH_INDEX_REPLICAS,
            "max_ngram_diff": NGRAM_MAX - NGRAM_MIN,
            "similarity": {
                SIMILARITY: {"type": "scripted", "script": {"source": SIMILARITY_SCRIPT}}
            },
        }

    class Django:
        model = Message
        # Indexing is explicit (search.indexing); no signal may index behind its back.
        ignore_signals = True
        auto_refresh = False
        queryset_pagination = 1000

    class Meta:
        # A document with a field the mapping does not name is refused rather than mapped by
        # guesswork; a write without routing is refused rather than put on the wrong shard.
        dynamic = MetaField("strict")
        _routing = MetaField(required=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # django-elasticsearch-dsl 9.0 caches its field preparers with `self._prepared_fields =
        # ...`; since elasticsearch 9.4, AttrDict.__setattr__ stores that in the document's data
        # instead, reads find the empty class attribute, and every document goes out with an
        # empty _source (django-es/django-elasticsearch-dsl#505). Set it on the instance.
        object.__setattr__(self, "_prepared_fields", self.init_prepare())

    def get_queryset(self) -> QuerySet[Message]:
        """What ``search_index --populate/--rebuild`` indexes: every message, with its chat."""
        return Message.objects.select_related("chat__application").order_by("pk")

    @classmethod
    def generate_id(cls, object_instance: Message) -> str:
        chat = object_instance.chat
        return message_document_id(chat.application.token, chat.number, object_instance.number)

    def prepare_chat(self, instance: Message) -> str:
        return chat_key(instance.chat.application.token, instance.chat.number)

    def prepare_body_folded(self, instance: Message) -> str:
        return text_fold(instance.body)

    def _prepare_action(self, object_instance: Message, action: str) -> dict[str, Any]:
        # django-elasticsearch-dsl builds every bulk action here, for our indexing task and for
        # its own search_index command alike; routing and the version are added to each.
        prepared = super()._prepare_action(object_instance, action)
        prepared["_routing"] = self.prepare_chat(object_instance)
        if action != "delete":
            prepared["version"] = message_version(object_instance)
            prepared["version_type"] = "external_gte"
        return prepared
