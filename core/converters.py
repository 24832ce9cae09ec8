"""Path converters: a number in a path is a positive integer that fits in 64 bits, or a 404."""

from core.pagination import MAX_NUMBER


class PositiveNumberConverter:
    regex = "[1-9][0-9]{0,18}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if number > MAX_NUMBER:
            raise ValueError("out of range")  # Django answers "no route matches": 404
        return number

    def to_url(self, value: int) -> str:
        return str(value)
