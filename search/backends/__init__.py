"""Which search backend answers: Elasticsearch when ELASTICSEARCH_URL is set, SQL otherwise."""

from django.conf import settings

from search.backends.base import SearchBackend


def search_backend() -> SearchBackend:
    if settings.ELASTICSEARCH_URL:
        from search.backends.elasticsearch import ElasticsearchSearchBackend

        return ElasticsearchSearchBackend()
    from search.backends.sql import SqlSearchBackend

    return SqlSearchBackend()
