"""What the write path tells the rest of the project about messages.

Both are sent INSIDE the transaction that writes the rows, so a receiver that writes rows of its
own (search's outbox, search.outbox) commits or rolls back with them: a persisted message is
never left without its record, nor a record without its message.

- ``messages_persisted``: new message rows; ``keys`` is a list of (chat id, number) pairs.
- ``messages_edited``: new bodies of persisted rows; ``keys`` as above.
"""

from django.dispatch import Signal

messages_persisted = Signal()
messages_edited = Signal()
