"""gunicorn's worker class for the stream process: uvicorn's, with a graceful stop that ends
every event stream at once (Hub.stop), so clients reconnect elsewhere instead of holding the
process until the graceful timeout runs out.

    gunicorn -k events.worker.StreamWorker chatapi.asgi:application
"""

import socket
import sys
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker


class _StreamServer(Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Imported here: the worker class is loaded before Django is set up.
        from events.hub import hubs_stop

        hubs_stop()  # before uvicorn waits for the connections to finish
        await super().shutdown(sockets)


class StreamWorker(UvicornWorker):
    # Django's ASGI handler speaks HTTP only: no lifespan events.
    CONFIG_KWARGS: dict[str, Any] = {"loop": "auto", "http": "auto", "lifespan": "off"}

    async def _serve(self) -> None:
        # UvicornWorker._serve, with the server above.
        self.config.app = self.wsgi
        server = _StreamServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
