"""The OpenAPI text patterns for ranged integers accept exactly what parse_int accepts."""
from __future__ import annotations

import random
import re

import pytest

from qosapp.core.model import ValidationError, parse_int
from qosapp.http.numtext import int_text_pattern


def accepted(text: str, lo: int, hi: int) -> bool:
    try:
        parse_int(text, "f", lo, hi)
        return True
    except ValidationError:
        return False


@pytest.mark.parametrize("lo,hi", [(0, 255), (1, 0xFFFFFF00), (0, 4095), (0, 65535), (1, 2**63), (0, 63),
                                   (12_000, 10**12), (7, 7), (0, 0)])
def test_pattern_agrees_with_parse_int(lo, hi):
    pattern = re.compile(int_text_pattern(lo, hi))
    rng = random.Random(lo * 31 + hi)
    values = {lo, hi, lo - 1, hi + 1, 0, 1, 9, 10, 99, 100, 255, 256, 4095, 4096, 65535, 65536}
    values |= {rng.randint(0, hi * 2 + 10) for _ in range(300)}
    for value in values:
        for text in (str(value), f"+{value}", f"00{value}", f"0x{value:x}", f"0X{value:04X}", f" {value} ",
                     f"-{value}", f"{value}.0", f"0x-{value}"):
            assert bool(pattern.search(text)) == accepted(text, lo, hi), (lo, hi, text)


def test_tos_values_pattern_agrees_with_parse_tos():
    from qosapp.core.model import parse_tos
    from qosapp.http.numtext import values_text_pattern
    pattern = re.compile(values_text_pattern(list(range(0, 256, 4))))
    for value in range(-3, 300):
        for text in (str(value), f"0x{value:x}", f"+0{value}", f"0X{value:X}"):
            try:
                parse_tos(text)
                ok = True
            except ValidationError:
                ok = False
            assert bool(pattern.search(text)) == ok, text
