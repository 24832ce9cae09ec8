"""django-elasticsearch-dsl's ``search_index``, which works out of the box without Elasticsearch.

Its command connects to Elasticsearch as it is constructed, so without ``ELASTICSEARCH_URL``
even ``--help`` ended in a traceback (there is no connection to get). Here, with no URL, it
says why in one line instead: ``--help`` then shows the options and exits 0, any other use
exits 1. With a URL it is django-elasticsearch-dsl's command, unchanged.
"""

import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django_elasticsearch_dsl.management.commands import search_index

NO_ELASTICSEARCH = (
    "ELASTICSEARCH_URL is not set: search is served by the SQL database, which has no index "
    "to create, populate or rebuild."
)


class Command(search_index.Command):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if settings.ELASTICSEARCH_URL:
            super().__init__(*args, **kwargs)
        else:
            BaseCommand.__init__(self, *args, **kwargs)

    def run_from_argv(self, argv: list[str]) -> None:
        if not settings.ELASTICSEARCH_URL:
            if "--help" in argv[2:] or "-h" in argv[2:]:
                self.stdout.write(NO_ELASTICSEARCH)
                super().run_from_argv(argv)  # prints the options, exits 0
                return
            self.stderr.write(NO_ELASTICSEARCH)
            sys.exit(1)
        super().run_from_argv(argv)

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.ELASTICSEARCH_URL:  # called as call_command("search_index", ...)
            from django.core.management.base import CommandError

            raise CommandError(NO_ELASTICSEARCH)
        super().handle(*args, **options)
