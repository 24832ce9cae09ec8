"""What messages_app tells the apps above it (search): sent inside the write's transaction, so a
receiver's own writes (an outbox row) commit or roll back with the messages."""

from django.dispatch import Signal

# kwargs: keys=list[tuple[int, int]], the (chat id, number) of the messages written.
messages_persisted = Signal()
# kwargs: keys=list[tuple[int, int]], the (chat id, number) of the persisted messages edited.
messages_edited = Signal()
