"""gunicorn's worker class for the stream process: uvicorn's, with a graceful stop that ends
every event stream at once (Hub.stop), so clients reconnect elsewhere instead of holding the
process until the graceful timeout runs out.

    gunicorn -k events.worker.StreamWorker chatapi.asgi:application
"""

import asyncio
from typing import Any

from uvicorn.server import Server
from uvicorn_worker import UvicornWorker



class StreamWorker(UvicornWorker):
    # Django's ASGI handler speaks HTTP only: no lifespan events.
    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": "auto", "lifespan": "off"}

    async def _serve(self) -> None:
        original = Server.shutdown

        async def shutdown(server: Server, sockets: Any = None) -> None:
            # Imported here: the worker class is loaded before Django is set up.
            from events.hub import hubs_stop

            hubs_stop()  # before uvicorn waits for the connections to finish
            await asyncio.sleep(0)
            await original(server, sockets)

        Server.shutdown = shutdown  # type: ignore[method-assign]
        await super()._serve()
