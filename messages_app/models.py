from django.db import models

from chats.models import Chat

# The (chat, number) unique index: every listing and the SQL search read through it.
MESSAGES_NUMBER_INDEX = "messages_unique_number_per_chat"


class Message(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    number = models.PositiveBigIntegerField()
    body = models.TextField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    # The SHA-256 of the Idempotency-Key it was created with, if any: lets a retry whose key
    # Redis lost (a power loss) find this row instead of creating another (pipeline.numbering).
    idempotency_key = models.CharField(
        max_length=64, blank=True, default="", db_default="", editable=False
    )

    class Meta:
        db_table = "messages"
        ordering = ["number"]
        constraints = [
            # The last line of defence behind the Redis allocator; also the index every listing
            # and the SQL search use to stay inside one chat.
            models.UniqueConstraint(fields=["chat", "number"], name=MESSAGES_NUMBER_INDEX),
        ]

    def __str__(self) -> str:
        return f"message {self.number}"
