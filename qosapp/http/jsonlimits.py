"""JSON bodies with limits: nesting depth and number length, checked before they can hurt.

Python's `json` raises RecursionError on deep nesting (10,000 `[`) and
ValueError on integers over 4,300 digits; both used to escape as 500s. No
QoS object nests more than a few levels or needs a number longer than a
64-bit value, so both are rejected as 400 naming the reason: long numbers while
decoding, deep nesting by the decoder's own recursion limit or, below it, by
a level-by-level walk of the decoded value before anything else sees it.
"""
from __future__ import annotations

import json
from typing import Any

from qosapp.core.model import ValidationError

MAX_DEPTH = 32
#: digits (and sign, point, exponent) in one JSON number
MAX_NUMBER_CHARS = 64


def nesting_depth(value: Any, limit: int) -> int:
    """Deepest array/object nesting of a decoded JSON value (at most `limit` + 1: "over the limit").

    Why after decoding and level by level: walking the text's brackets in
    Python cost 1.6 s for a 100,000-policy bulk body (200,000 brackets, and
    the strings must be skipped); here each level is one list comprehension
    over the containers of the level above, so the scalars are looked at once
    and the walk stops as soon as it is over the limit. What is too deep for
    the decoder itself (about 1,000 levels) never gets here: it raises
    RecursionError, which `loads` turns into the same 400.
    """
    level = [value]
    depth = 0
    while True:
        containers = [v for v in level if isinstance(v, (list, dict))]
        if not containers:
            return depth
        depth += 1
        if depth > limit:
            return depth
        level = [child for c in containers for child in (c.values() if isinstance(c, dict) else c)]


def _number(kind: type) -> Any:
    def parse(text: str) -> Any:
        if len(text) > MAX_NUMBER_CHARS:
            raise ValidationError("body", f"a JSON number has {len(text)} characters; "
                                          f"at most {MAX_NUMBER_CHARS} are accepted")
        return kind(text)
    return parse


def _constant(name: str) -> Any:
    raise ValidationError("body", f"{name} is not JSON")


def loads(raw: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Decode a request body, or raise ValidationError("body", reason)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValidationError("body", f"malformed JSON: not UTF-8 ({err.reason} at byte {err.start})") from None
    try:
        value = json.loads(text, parse_int=_number(int), parse_float=_number(float),
                           parse_constant=_constant)
    except json.JSONDecodeError as err:
        raise ValidationError("body", f"malformed JSON: {err}") from None
    except RecursionError:
        raise ValidationError("body", f"JSON nested deeper than {max_depth} levels") from None
    if nesting_depth(value, max_depth) > max_depth:
        raise ValidationError("body", f"JSON nested deeper than {max_depth} levels")
    return value
