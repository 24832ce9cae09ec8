"""The contract's text field (core/serializer_fields.py), without HTTP.

Every text field of every endpoint is a ``StrictTextField`` (an application's ``name``, a
message's ``body``, a search's ``query`` and ``q``); chatapi/tests/test_hostile_inputs.py
sends one wrong value to each through the API, to show that each really is one.
"""

import pytest
from rest_framework.exceptions import ValidationError

from core.serializer_fields import StrictTextField


def refusal(field: StrictTextField, value: object) -> list[str]:
    """The messages ``field`` refuses ``value`` with (as the API would name them)."""
    with pytest.raises(ValidationError) as raised:
        field.run_validation(value)
    return [str(message) for message in raised.value.detail]


# What JSON can carry that is not a string: every one refused with the same message, where DRF's
# CharField would store a number as text ("1.5") and refuse the others as "Not a valid string.".
NOT_STRINGS = {
    "true": True,
    "false": False,
    "zero": 0,
    "negative": -1,
    "float": 1.5,
    "huge float": 1.7976931348623157e308,
    "infinity (1e400 in JSON)": float("inf"),
    "2**64": 2**64,
    "-2**64": -(2**64),
    "empty list": [],
    "list of strings": ["x"],
    "empty object": {},
    "object": {"x": "y"},
}


def test_a_value_that_is_not_a_string_is_refused_as_not_a_string():
    field = StrictTextField()

    assert {name: refusal(field, value) for name, value in NOT_STRINGS.items()} == dict.fromkeys(
        NOT_STRINGS, ["Must be a string."]
    )


def test_null_is_refused_as_null_even_where_the_field_may_be_left_out():
    assert refusal(StrictTextField(), None) == ["This field may not be null."]
    assert refusal(StrictTextField(required=False), None) == ["This field may not be null."]


def test_text_of_white_space_only_is_blank():
    field = StrictTextField()

    assert [refusal(field, text) for text in ("", " ", "\t\n", "\u00a0", "\u3000")] == [
        ["This field may not be blank."]
    ] * 5


def test_a_lone_surrogate_is_refused_before_it_reaches_the_database():
    assert refusal(StrictTextField(), "a\ud800b") == [
        "Must be valid Unicode text (no lone surrogates)."
    ]


def test_text_is_kept_exactly_as_sent():
    field = StrictTextField()
    texts = ["  padded  ", "line\n", "😀 emoji", "e\u0301", "1", "null", "é" * 3]

    assert [field.run_validation(text) for text in texts] == texts


def test_the_length_limit_counts_characters():
    field = StrictTextField(max_length=3)

    assert field.run_validation("😀😀😀") == "😀😀😀"
    assert refusal(field, "abcd") == ["Ensure this field has no more than 3 characters."]
