import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatapi.settings.local")

from core.request_bodies import chunked_bodies_readable  # noqa: E402 - needs the settings

application = chunked_bodies_readable(get_wsgi_application())
