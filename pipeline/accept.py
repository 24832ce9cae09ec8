"""What every create does around its allocation (chats.services, messages_app.services).

The allocation itself (number and journal entry, one Redis script) is pipeline.numbering's;
here: the Idempotency-Key's stored form, and the drain that an allocation asks for.
"""

from pipeline.numbering import Allocation, idempotency_hash
from pipeline.tasks import drain_queue


def idempotency_key_hash(idempotency_key: str | None) -> str:
    """What a record keeps of its Idempotency-Key: its hash, or "" without one."""
    return "" if idempotency_key is None else idempotency_hash(idempotency_key)


def allocation_settle(allocation: Allocation) -> None:
    """Queue the drain the allocating script asked for (it set the partition's marker)."""
    if allocation.drain_requested:
        drain_queue(allocation.partition, already_marked=True)
