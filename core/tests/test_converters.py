"""The path converter of chat and message numbers (core/converters.py), without HTTP.

Django runs a converter in two steps: the route's pattern must match the whole path segment
with ``regex``, then ``to_python`` may still refuse the value with ``ValueError``. Either way
no route matches, and the catch-all answers 404 (test_errors.py sends one such path per route).
"""

import re

from core.converters import PositiveNumberConverter

converter = PositiveNumberConverter()
LARGEST = 2**63 - 1


def read(segment: str) -> int | None:
    """What a route with ``<number:...>`` makes of a path segment: the number, or no match."""
    if re.fullmatch(converter.regex, segment) is None:
        return None
    try:
        return converter.to_python(segment)
    except ValueError:
        return None


def test_a_positive_integer_up_to_the_largest_of_64_bits_is_read():
    assert [read(text) for text in ("1", "7", "10", "120", str(LARGEST))] == [
        1,
        7,
        10,
        120,
        LARGEST,
    ]


def test_what_is_not_written_as_a_positive_integer_matches_no_route():
    """Only ASCII digits without a leading zero: no sign, point, exponent, base or space.

    " " is what ``%20`` in a path becomes: Django matches routes against the decoded path.
    """
    refused = ["0", "00", "01", "-1", "+1", "abc", "1a", "1.5", "1e2", "0x1", " ", " 1", "1 ", ""]
    refused.append("\u0661")  # ARABIC-INDIC DIGIT ONE: int() reads it, the route must not

    assert {text: read(text) for text in refused} == dict.fromkeys(refused)


def test_a_number_past_64_bits_matches_no_route():
    """2**63 and the other 19-digit numbers over the largest pass the pattern and are refused by
    ``to_python``; 20 digits and more (2**64, thirty 9s) do not even pass the pattern."""
    too_large = [str(LARGEST + 1), "9" * 19, str(2**64), "9" * 30]

    assert re.fullmatch(converter.regex, str(LARGEST + 1))
    assert {text: read(text) for text in too_large} == dict.fromkeys(too_large)


def test_a_number_is_written_back_into_a_path_as_its_digits():
    assert converter.to_url(LARGEST) == str(LARGEST)
