"""Settings for the test suite: the real database named by DATABASE_URL and a real Redis.

Tests use their own Redis database and key prefix so that they never touch a developer's data.
"""

import os

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("REDIS_KEY_PREFIX", "chatapi-test")

from chatapi.settings.base import *
from chatapi.settings.base import BASE_DIR, DATABASES

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-for-production"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not the in-memory default: the Celery worker of the end-to-end tests is another
    # process and must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test.sqlite3")}
