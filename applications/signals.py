"""What applications tells the apps above it (search) about an application's lifecycle."""

from django.dispatch import Signal

# kwargs: application_id: int, token: str. Sent inside the transaction that deletes the
# application's row, once its chats and messages are gone (applications.deletion).
application_deleting = Signal()
