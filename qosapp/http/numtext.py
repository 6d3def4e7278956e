"""Regular expressions for "an integer in [lo, hi]" written as text, as `parse_int` reads it.

The seed sends numbers as strings ("queue": "2", "eth-type": "0x0800"), so
the OpenAPI document must say which strings are valid, range included: a
plain `"type": "string"` let schema-valid requests ("protocol": "7777") be
refused with 400. The patterns here accept exactly what `parse_int` accepts
(decimal with optional '+' and leading zeros, '-0', or 0x hex; surrounding
whitespace), except its 40/32-digit length caps.
"""
from __future__ import annotations

DIGITS = "0123456789abcdef"


def _digits(number: int, base: int) -> str:
    out = ""
    while True:
        number, rem = divmod(number, base)
        out = DIGITS[rem] + out
        if number == 0:
            return out


def _char_class(lo: int, hi: int, base: int) -> str:
    """One digit position with a value in [lo, hi] (hex letters in either case)."""
    chars = ""
    for value in range(lo, hi + 1):
        digit = DIGITS[value]
        chars += digit + (digit.upper() if digit.isalpha() and base == 16 else "")
    return chars if len(chars) == 1 else f"[{chars}]"


def _any(base: int) -> str:
    return _char_class(0, base - 1, base)


def _same_length(low: str, high: str, base: int) -> list[str]:
    """Alternatives matching every digit string of len(low) in [low, high] (leading zeros allowed)."""
    if len(low) == 1:
        return [_char_class(DIGITS.index(low), DIGITS.index(high), base)]
    first_lo, first_hi = DIGITS.index(low[0]), DIGITS.index(high[0])
    rest = len(low) - 1
    top = DIGITS[base - 1] * rest
    bottom = "0" * rest
    if first_lo == first_hi:
        return [_char_class(first_lo, first_lo, base) + _group(_same_length(low[1:], high[1:], base))]
    out = []
    start, end = first_lo, first_hi
    if low[1:] != bottom:
        out.append(_char_class(first_lo, first_lo, base) + _group(_same_length(low[1:], top, base)))
        start += 1
    tail_high = None
    if high[1:] != top:
        tail_high = _char_class(first_hi, first_hi, base) + _group(_same_length(bottom, high[1:], base))
        end -= 1
    if start <= end:
        out.append(_char_class(start, end, base) + (_any(base) if rest == 1 else f"{_any(base)}{{{rest}}}"))
    if tail_high:
        out.append(tail_high)
    return out


def _group(alternatives: list[str]) -> str:
    return alternatives[0] if len(alternatives) == 1 else "(" + "|".join(alternatives) + ")"


def range_regex(lo: int, hi: int, base: int = 10) -> str:
    """Digit strings (no leading zeros beyond the number itself) of the values lo..hi."""
    parts: list[str] = []
    number = lo
    while number <= hi:
        length = len(_digits(number, base))
        last = min(hi, base ** length - 1)
        parts += _same_length(_digits(number, base), _digits(last, base), base)
        number = last + 1
    return _group(parts)


def int_text_pattern(lo: int, hi: int) -> str:
    """A JSON Schema pattern for the text forms of an integer in [lo, hi] (lo >= 0)."""
    branches = [rf"\+?0*{range_regex(lo, hi)}", f"0[xX]0*{range_regex(lo, hi, 16)}"]
    if lo == 0:
        branches.append("-0+")
    return rf"^\s*({'|'.join(branches)})\s*$"


def values_text_pattern(values: list[int]) -> str:
    """The text forms (decimal or 0x hex, as parse_int reads them) of exactly these values."""
    decimal = "|".join(str(v) for v in sorted(values) if v)
    hexa = "|".join("".join(_char_class(DIGITS.index(c), DIGITS.index(c), 16) for c in f"{v:x}")
                    for v in sorted(values) if v)
    zero = 0 in values
    branches = []
    if decimal:
        branches += [rf"\+?0*({decimal})", f"0[xX]0*({hexa})"]
    if zero:
        branches += [r"[+-]?0+", "0[xX]0+"]
    return rf"^\s*({'|'.join(branches)})\s*$"
