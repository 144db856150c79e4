"""Byte quantities as people type and read them: parsing ``0x1000``, ``4096``, ``64M``, ``2G``,
``1.5T`` and formatting sizes and addresses back.

Unit letters are binary, as the kernel's ``humanize_number(..., 1024)`` and ``lsmem`` use them:
``K`` = 2**10, ``M`` = 2**20, ``G`` = 2**30, ``T`` = 2**40, ``P`` = 2**50, ``E`` = 2**60. The
spellings ``64M``, ``64MB``, ``64MiB`` and ``64 m`` are the same number; ``B`` alone means bytes.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Final

UNIT_SHIFTS: Final = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}
"""Unit letter -> power of two it multiplies by."""

_EXACT_UNITS: Final = tuple(
    sorted(((letter, shift) for letter, shift in UNIT_SHIFTS.items() if shift), key=lambda u: -u[1])
)
_FORMAT_UNITS: Final = (
    ("EiB", 60),
    ("PiB", 50),
    ("TiB", 40),
    ("GiB", 30),
    ("MiB", 20),
    ("KiB", 10),
)

_QUANTITY = re.compile(
    r"(?P<number>0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*(?:\.[0-9]+)?|\.[0-9]+)"
    r"\s*(?:(?P<unit>[kKmMgGtTpPeE])(?:[iI]?[bB])?|[bB])?",
    re.ASCII,
)


class UnitError(ValueError):
    """A quantity could not be parsed; the message quotes the text and says why."""


def parse_bytes(text: str) -> int:
    """The number of bytes ``text`` denotes: hex (``0x1000``), decimal (``4096``, ``4_096``)
    or either with a binary unit (``64M``, ``2GiB``, ``0x10M``, ``1.5G``). Surrounding blanks
    are ignored.

    Raises ``UnitError`` for anything else, for a negative value and for a fraction that is not
    a whole number of bytes (``1.5`` or ``0.1K``). O(len(text)).

    >>> parse_bytes("0x1000"), parse_bytes("64M"), parse_bytes("1.5K")
    (4096, 67108864, 1536)
    """
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise UnitError(f"{text!r} is not a byte quantity (examples: 0x1000, 4096, 64M, 2G, 1.5T)")
    number = match["number"]
    shift = UNIT_SHIFTS[(match["unit"] or "").upper()]
    if number[:2].lower() == "0x":
        return int(number, 16) << shift
    value = Fraction(number.replace("_", "")) * (1 << shift)
    if value.denominator != 1:
        raise UnitError(f"{text!r} is not a whole number of bytes")
    return value.numerator


def format_size(nbytes: int) -> str:
    """``nbytes`` in the largest binary unit it reaches: exact values without decimals
    (``"64 MiB"``, ``"639 KiB"``), inexact ones with two (``"1.50 GiB"``, ``"2.00 GiB"`` for a
    hair under 2 GiB), and bytes below 1 KiB (``"512 B"``). Negative sizes keep their sign.
    O(1).

    >>> format_size(0x9fc00), format_size(3 << 29), format_size(100)
    ('639 KiB', '1.50 GiB', '100 B')
    """
    sign = "-" if nbytes < 0 else ""
    magnitude = abs(nbytes)
    for name, shift in _FORMAT_UNITS:
        if magnitude >= 1 << shift:
            whole, rest = divmod(magnitude, 1 << shift)
            if rest == 0:
                return f"{sign}{whole} {name}"
            return f"{sign}{magnitude / (1 << shift):.2f} {name}"
    return f"{sign}{magnitude} B"


def format_quantity(nbytes: int) -> str:
    """``nbytes`` (>= 0) in the shortest exact form :func:`parse_bytes` reads back: a unit
    letter when one divides it (``"128M"``, ``"3G"``, ``"4K"``), else hex (``"0x1234"``).
    O(1).

    >>> format_quantity(128 << 20), format_quantity(0x1234), format_quantity(0)
    ('128M', '0x1234', '0x0')
    """
    if nbytes > 0:
        for letter, shift in _EXACT_UNITS:
            if nbytes % (1 << shift) == 0:
                return f"{nbytes >> shift}{letter}"
    return f"{nbytes:#x}"


def format_addr(pa: int) -> str:
    """A byte address as ``0x`` and lower-case hex, no padding (``"0x100000"``). O(1)."""
    return f"{pa:#x}"


def format_count(n: int) -> str:
    """An integer with thousands separators (``"4,194,304"``). O(digits)."""
    return f"{n:,}"
