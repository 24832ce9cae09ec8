"""The JSON parser of the API: DRF's, plus one client mistake DRF lets through as a 500.

JSON nested deeper than Python's recursion limit (``[[[[...`` a few kilobytes long, well
under the 1 MiB body limit) makes ``json.loads`` raise RecursionError, which is not a
ValueError, so DRF's parser does not turn it into a ParseError; it is one here, a 400.
"""

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser as DrfJSONParser


class JSONParser(DrfJSONParser):
    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise ParseError("JSON parse error - nested too deeply.") from exc
