"""The pipeline's Lua scripts (``pipeline/lua/*.lua``): read, registered and cached in one place.

Each script is read once per process and sent as EVALSHA (EVAL the first time a Redis has not
seen it, which redis-py handles). Every script documents its KEYS and ARGV at its top, unpacks
them into named locals, and answers a string status first where it can answer more than one
thing; callers compare against the names in ``Status``.
"""

from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

from redis.commands.core import Script

from chatapi.redis_client import redis_connection

_LUA = Path(__file__).with_name("lua")


class Status(StrEnum):
    """What ``allocate.lua`` answers first."""

    OK = "ok"
    REPLAY = "replay"
    NO_APPLICATION = "no_application"
    NO_CHAT = "no_chat"
    BACKLOG = "backlog"
    RESEED = "reseed"
    CHECK_KEY = "check_key"


@cache
def script(name: str) -> Script:
    """The script ``pipeline/lua/<name>.lua``."""
    return redis_connection().register_script((_LUA / f"{name}.lua").read_text())


def run(name: str, *, keys: list[str], args: list[Any], client: Any = None) -> Any:
    """Run a script on the process's connection, or on ``client`` (a pipeline)."""
    return script(name)(keys=keys, args=args, client=client or redis_connection())


def text(value: Any) -> str:
    """A script's reply as text (redis-py answers bytes unless asked to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)
