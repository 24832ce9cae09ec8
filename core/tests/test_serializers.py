"""Input serializers whose fields are built once: the same answers as DRF's, from any thread."""

import threading

from rest_framework import serializers

from core.serializer_fields import StrictTextField
from core.serializers import FieldsBuiltOnceSerializer


class Shared(FieldsBuiltOnceSerializer):
    body = StrictTextField(max_length=5)
    note = serializers.CharField(required=False)


class Plain(serializers.Serializer):
    body = StrictTextField(max_length=5)
    note = serializers.CharField(required=False)


INPUTS = [
    {"body": "hello"},
    {"body": "hello!"},
    {"body": "   "},
    {"body": 5},
    {},
    {"body": "ok", "note": "n"},
    {"body": "ok", "note": None},
    {"body": "ok", "unknown": 1},
    [],
    "text",
    None,
]


def outcome(serializer_class, data, **kwargs):
    serializer = serializer_class(data=data, **kwargs)
    if serializer.is_valid():
        return ("valid", dict(serializer.validated_data))
    return ("invalid", serializer.errors)


def test_the_fields_are_built_once_per_class():
    first, second = Shared(data={}), Shared(data={})

    assert first.fields is second.fields
    assert first.fields["body"] is second.fields["body"]
    assert Shared(data={}, context={"x": 1}).fields is not first.fields  # a context: its own
    assert Shared(data={}, partial=True).fields is not first.fields


def test_it_answers_what_a_plain_serializer_answers():
    for data in INPUTS:
        assert outcome(Shared, data) == outcome(Plain, data), data
        assert outcome(Shared, data, partial=True) == outcome(Plain, data, partial=True), data


def test_threads_sharing_the_fields_each_get_their_own_answer():
    expected = [outcome(Plain, data) for data in INPUTS]
    wrong: list[object] = []
    start = threading.Barrier(8)

    def validate() -> None:
        start.wait()
        for _ in range(300):
            for data, answer in zip(INPUTS, expected, strict=True):
                if outcome(Shared, data) != answer:
                    wrong.append(data)

    threads = [threading.Thread(target=validate) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
