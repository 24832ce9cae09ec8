"""Which applications and chats gained rows since the counters were last recomputed.

The persist services add ids here after their transaction commits; the beat task takes them out
with SPOP, which removes and returns members atomically, so an id added while a refresh runs is
simply picked up by the next one: no change is missed and none is counted twice for nothing.
"""

from chatapi.redis_client import redis_connection, redis_key

APPLICATIONS = "applications"
CHATS = "chats"


def _key(kind: str) -> str:
    return redis_key("changed", kind)


def changes_mark(*, application_ids: set[int], chat_ids: set[int]) -> None:
    pipe = redis_connection().pipeline(transaction=False)
    if application_ids:
        pipe.sadd(_key(APPLICATIONS), *application_ids)
    if chat_ids:
        pipe.sadd(_key(CHATS), *chat_ids)
    pipe.execute()


def changes_take(*, kind: str, limit: int) -> list[int]:
    return [int(member) for member in redis_connection().spop(_key(kind), limit) or []]


def changes_return(*, kind: str, ids: list[int]) -> None:
    """Put ids back after a refresh failed, so that the next run counts them."""
    if ids:
        redis_connection().sadd(_key(kind), *ids)
