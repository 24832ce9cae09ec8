"""The ASGI entry point: the stream process (events/worker.py) serves the events paths with it.

The same Django project as chatapi/wsgi.py; the live event streams need ASGI (an async view
holding a connection costs a coroutine, not a thread).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

application = get_asgi_application()
