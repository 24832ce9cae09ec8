from django.db import models

from chats.models import Chat


class Message(models.Model):
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    number = models.PositiveBigIntegerField()
    body = models.TextField()
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "messages"
        ordering = ["number"]
        constraints = [
            # The last line of defence behind the Redis allocator; also the index every listing
            # and the SQL search use to stay inside one chat.
            models.UniqueConstraint(
                fields=["chat", "number"], name="messages_unique_number_per_chat"
            ),
        ]

    def __str__(self) -> str:
        return f"message {self.number}"
