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
    # Recomputed by Celery beat (pipeline.counters), never incremented in place.
    chats_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "applications"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.token[:8]}…)"


class NumberReservation(models.Model):
    """Numbers of one counter that may have been handed out without SQL having their rows.

    The allocator (pipeline.numbering) records one here, before using it, each time it must
    re-establish a counter after Redis lost or may have lost increments; with the rows, it bounds
    every number ever handed out, so a counter rebuilt later starts beyond all of them.
    ``chat_number`` 0 is the application's chat counter; N > 0 is chat N's message counter (the
    chat's row may not exist yet, hence no foreign key to it).
    """

    application = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="number_reservations"
    )
    chat_number = models.PositiveBigIntegerField()
    highest = models.PositiveBigIntegerField()

    class Meta:
        db_table = "number_reservations"
        constraints = [
            models.UniqueConstraint(
                fields=["application", "chat_number"], name="number_reservations_unique_counter"
            ),
        ]

    def __str__(self) -> str:
        return f"reservation up to {self.highest} ({self.chat_number or 'chats'})"
