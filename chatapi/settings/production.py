"""Production: no development defaults; a missing secret fails at start-up.

The defaults here are the secure ones, so that ``manage.py check --deploy`` passes with no
warning: TLS redirect, HSTS, secure cookies. A deployment that serves plain HTTP on purpose
(the docker-compose demo behind nginx on port 8000) turns them off through the environment.
https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
"""

from django.core.exceptions import ImproperlyConfigured

from chatapi.settings.base import *  # noqa: F403
from chatapi.settings.base import env

DEBUG = False
# No default: production refuses to start without these. An empty value (``SECRET_KEY=`` left
# blank in an .env file) is refused too: Django would only notice an empty key at the first
# request that signs something, and an empty host list turns every request into a 400.
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
for _name, _value in (("SECRET_KEY", SECRET_KEY.strip()), ("ALLOWED_HOSTS", ALLOWED_HOSTS)):
    if not _value:
        raise ImproperlyConfigured(f"Set the {_name} environment variable (it is empty)")

# TLS is terminated by the proxy in front, which says so in X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# The probes are answered over plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
