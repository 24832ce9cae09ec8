"""The codec of the rows the engine carries: each app declares its records on ``Record``.

A record is what the API accepted, as plain data: the journal holds it (``to_journal`` /
``from_journal``), the drain writes it (``to_model``), a read of a row not persisted yet
shows it (``from_journal(...).to_model()``), and a retry whose Idempotency-Key Redis lost is
answered from its persisted row (``from_model``). The codec is written once, here, from the
dataclass fields: a field added to a record and to its model travels the whole way with no
other change.

A record's identity (its application's token and its numbers) is its journal entry's name
(pipeline.keys); every other field is its payload, as JSON: datetimes in ISO 8601, and the
Idempotency-Key's hash under ``key``.
"""

import logging
from dataclasses import dataclass, fields
from datetime import datetime
from functools import cache
from typing import Any, ClassVar, Self, TypeVar, get_type_hints

from django.db.models import Model

from pipeline import keys

logger = logging.getLogger(__name__)

# Payload names that differ from the field's (kept as journals already in Redis have them).
_PAYLOAD_NAMES = {"idempotency_key": "key"}


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _decode(kind: Any, value: Any) -> Any:
    return datetime.fromisoformat(value) if kind is datetime else value


@dataclass(frozen=True)
class Record:
    """The codec shared by every record; subclasses declare fields, identity and model."""

    KIND: ClassVar[str]  # the entry kind (pipeline.keys)
    IDENTITY: ClassVar[tuple[str, ...]]  # the fields the entry's name holds, in its order
    MODEL: ClassVar[type[Model]]

    @property
    def entry(self) -> str:
        """The journal entry's name: ``<kind>:<token>:<numbers>``."""
        return keys.entry_name(self.KIND, *(getattr(self, name) for name in self.IDENTITY))

    def to_journal(self) -> dict[str, Any]:
        """The payload: every field but the identity, and none left at its default."""
        return {
            _PAYLOAD_NAMES.get(field.name, field.name): _encode(getattr(self, field.name))
            for field in fields(self)
            if field.name not in self.IDENTITY and getattr(self, field.name) != field.default
        }

    @classmethod
    def from_journal(cls, entry: str, payload: dict[str, Any]) -> Self:
        name = keys.EntryName.parse(entry)
        values: dict[str, Any] = dict(zip(cls.IDENTITY, (name.token, *name.numbers), strict=True))
        hints = _hints(cls)  # type: ignore[arg-type]
        for field in fields(cls):
            stored = _PAYLOAD_NAMES.get(field.name, field.name)
            if field.name not in values and stored in payload:
                values[field.name] = _decode(hints[field.name], payload[stored])
        return cls(**values)

    @classmethod
    def from_model(cls, row: Model, **identity: Any) -> Self:
        """The record of a persisted row; ``identity`` gives what the row does not hold."""
        values = {
            field.name: getattr(row, field.name)
            for field in fields(cls)
            if field.name not in identity and hasattr(row, field.name)
        }
        return cls(**identity, **values)

    def to_model(self, **links: Any) -> Model:
        """An instance of the model with every field the record and the model share; ``links``
        are the foreign keys (unsaved and without them: a row not persisted yet)."""
        names = _model_fields(self.MODEL)
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return self.MODEL(
            **{name: value for name, value in values.items() if name in names}, **links
        )

    def content(self) -> dict[str, Any]:
        """What the client sent: the payload without the times and the key's hash."""
        payload = self.to_journal()
        for name in ("created_at", "updated_at", _PAYLOAD_NAMES["idempotency_key"]):
            payload.pop(name, None)
        return payload


@cache
def _hints(cls: type[Record]) -> dict[str, Any]:
    return get_type_hints(cls)


@cache
def _model_fields(model: type[Model]) -> frozenset[str]:
    return frozenset(field.name for field in model._meta.concrete_fields)


R = TypeVar("R", bound=Record)


def records_of_known_applications(records: list[R], application_ids: dict[str, int]) -> list[R]:
    """The records whose application still exists; the others are logged and left out.

    Rows the API accepted for an application deleted meanwhile are dropped by the drain.
    """
    kept = []
    for record in records:
        if record.token in application_ids:  # type: ignore[attr-defined]
            kept.append(record)
            continue
        what = type(record).__name__.removesuffix("Record").lower()
        numbers = record.entry.split(":", 2)[2]
        logger.warning(
            "dropping %s %s: application %s… is gone",
            what,
            numbers,
            record.token[:8],  # type: ignore[attr-defined]
        )
    return kept
