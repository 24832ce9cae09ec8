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

from core.redis_client import redis_connection

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
def source(name: str) -> str:
    """The text of ``pipeline/lua/<name>.lua``."""
    return (_LUA / f"{name}.lua").read_text()


@cache
def script(name: str) -> Script:
    """The script ``pipeline/lua/<name>.lua``."""
    return redis_connection().register_script(source(name))


def run(name: str, *, keys: list[str], args: list[Any]) -> Any:
    """Run a script (EVALSHA, and EVAL when this Redis does not have it yet)."""
    return script(name)(keys=keys, args=args, client=redis_connection())


def queue(pipe: Any, name: str, *, keys: list[str], args: list[Any]) -> None:
    """Queue a script on a pipeline, as EVAL: a pipeline cannot recover from NOSCRIPT (a node
    that never ran the script: a new cluster node, a promoted replica)."""
    pipe.execute_command("EVAL", source(name), len(keys), *keys, *args)


def text(value: Any) -> str:
    """A script's reply as text (redis-py answers bytes unless asked to decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)
