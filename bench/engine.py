"""What the benchmark reads of the engine's Redis layout, from the engine itself.

pipeline/keys.py names every key; it reads ``REDIS_KEY_PREFIX`` and ``REDIS_PARTITIONS`` from
Django's settings, which this process configures with the benchmark's values (it runs no
Django otherwise). The counters' field names are the allocator's (pipeline/numbering.py's
docstring: ``m:<chat>`` is the last message number handed out in a chat).
"""

from __future__ import annotations

import os
import sys

from stack import BASE_DIR

sys.path.insert(0, str(BASE_DIR))


def application_counters_key(token: str, *, key_prefix: str) -> str:
    """The hash of the application's counters, as the service under test names it."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            REDIS_KEY_PREFIX=key_prefix,
            REDIS_PARTITIONS=int(os.environ.get("REDIS_PARTITIONS", "256")),
        )
    from pipeline.keys import application_key

    return application_key(token)


def message_counter_field(chat_number: int) -> str:
    return f"m:{chat_number}"
