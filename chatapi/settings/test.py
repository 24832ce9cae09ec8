"""Settings for the test suite: the real database named by DATABASE_URL and a real Redis.

Tests use their own Redis database and key prefix so that they never touch a developer's data.
"""

import os
from pathlib import Path

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REDIS_KEY_PREFIX", "chatapi-test")

from chatapi.settings.base import *
from chatapi.settings.base import DATABASES

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Nothing is collected outside production; WhiteNoise serves straight from the apps.
STATIC_ROOT = None

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory default: the Celery worker of the end-to-end tests is another
    # process and must see the same database. Named after the configured file, next to it, so
    # that runs with different DATABASE_URLs (two developers, two CI jobs) never share, and
    # destroy, one test database.
    _configured = Path(DATABASES["default"]["NAME"])
    DATABASES["default"]["TEST"] = {"NAME": str(_configured.with_name(f".test-{_configured.name}"))}
