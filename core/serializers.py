"""A base for the input serializers of the hot paths: fields built once per class.

DRF deep-copies every declared field for each serializer instance (``Serializer.fields``), so
that fields can be bound to it; for the body of a create that copy, which builds the field's
validators again, is a third of what validation costs. The fields of a flat serializer of
plain fields keep no state of their own between calls, so here they are built and bound once,
to a template instance of the class, and shared by every instance.

A serializer given a ``context`` or ``partial=True`` builds its own, as DRF does: a field
may read ``self.context`` or ``self.root.partial``, and those are the template's otherwise.
Only for serializers whose fields are plain (no nested serializers, no ``validate_<field>``
reading the instance): the input of a create or an edit.
"""

from django.utils.functional import cached_property
from rest_framework import serializers
from rest_framework.utils.serializer_helpers import BindingDict


class FieldsBuiltOnceSerializer(serializers.Serializer):
    _shared_fields: BindingDict | None = None

    @cached_property
    def fields(self) -> BindingDict:
        if self._context or self.partial:
            return super().fields
        cls = type(self)
        shared = cls.__dict__.get("_shared_fields")
        if shared is None:
            # A context makes the template build (and bind) its fields as DRF does.
            shared = cls(context={"template": True}).fields
            cls._shared_fields = shared  # two threads racing here build two: both are fine
        return shared
