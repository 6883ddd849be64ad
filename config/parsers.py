"""The API's request parser (kept apart from the views: DRF loads it while its own views module is being imported)."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 20  # the API's bodies are flat; deeper nesting is refused before anything walks it


class SafeJSONParser(JSONParser):
    """DRF's JSON parser, answering 400 where a body would otherwise cause a 500 further on: nesting deeper than
    MAX_JSON_DEPTH (or than Python's recursion limit), and NUL characters, which PostgreSQL text cannot hold."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.") from None
        _refuse_unsafe_json(data)
        return data


def _refuse_unsafe_json(data: object) -> None:
    """Raise ParseError for nesting past MAX_JSON_DEPTH or a NUL in any key or string (walked without recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    raise ParseError("The JSON body contains a NUL character (\\u0000), which Paperfeed never accepts.")
                stack.append((item, depth + 1))
        elif isinstance(value, str) and "\x00" in value:
            raise ParseError("The JSON body contains a NUL character (\\u0000), which Paperfeed never accepts.")
