from django.db import models

from applications.models import Application

# The (application, number) unique index: the listing of an application's chats reads it.
CHATS_NUMBER_INDEX = "chats_unique_number_per_application"


class Chat(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="chats")
    number = models.PositiveBigIntegerField()
    # Recomputed by Celery beat (pipeline.counters), never incremented in place.
    messages_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The SHA-256 of the Idempotency-Key it was created with, if any: lets a retry whose key
    # Redis lost (a power loss) find this row instead of creating another (pipeline.numbering).
    idempotency_key = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        db_table = "chats"
        ordering = ["number"]
        constraints = [
            # The last line of defence behind the Redis allocator: a number is never used twice.
            models.UniqueConstraint(fields=["application", "number"], name=CHATS_NUMBER_INDEX),
        ]

    def __str__(self) -> str:
        return f"chat {self.number}"
