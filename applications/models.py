import re
import secrets

from django.conf import settings
from django.db import models

# 20 random bytes as lowercase hex: 160 bits from the OS's CSPRNG, URL-safe, and immune to the
# case-insensitive collations MySQL uses by default (a base64 token could collide with itself
# in another case there).
TOKEN_BYTES = 20
TOKEN_PATTERN = re.compile(rf"[0-9a-f]{{{TOKEN_BYTES * 2}}}")


def token_generate() -> str:
    return secrets.token_hex(TOKEN_BYTES)


def token_is_well_formed(token: str) -> bool:
    return TOKEN_PATTERN.fullmatch(token) is not None


class Application(models.Model):
    token = models.CharField(max_length=TOKEN_BYTES * 2, unique=True, default=token_generate)
    name = models.CharField(max_length=settings.APPLICATION_NAME_MAX_LENGTH)
    # Recomputed by Celery beat (applications.services.counts), never incremented in place.
    chats_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "applications"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token[:8]}…)"
