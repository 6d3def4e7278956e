"""JSON bodies with limits: nesting depth and number length, checked before they can hurt.

Python's `json` raises RecursionError on deep nesting (10,000 `[`) and
ValueError on integers over 4,300 digits; both used to escape as 500s. No
QoS object nests more than a few levels or needs a number longer than a
64-bit value, so both are rejected as 400 naming the reason, before any
parsing work is spent on them.
"""
from __future__ import annotations

import json
import re
from typing import Any

from qosapp.core.model import ValidationError

MAX_DEPTH = 32
#: digits (and sign, point, exponent) in one JSON number
MAX_NUMBER_CHARS = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str, limit: int) -> int:
    """Deepest array/object nesting of `text`, counting stops once over `limit`."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        else:
            depth -= 1
    return deepest


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
    depth = nesting_depth(text, max_depth)
    if depth > max_depth:
        raise ValidationError("body", f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_constant)
    except json.JSONDecodeError as err:
        raise ValidationError("body", f"malformed JSON: {err}") from None
    except RecursionError:
        raise ValidationError("body", f"JSON nested deeper than {max_depth} levels") from None
