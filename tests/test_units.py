"""Byte quantities: parsing what people type, formatting sizes and addresses back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from physseg.cli.units import (
    UnitError,
    format_addr,
    format_count,
    format_quantity,
    format_size,
    parse_bytes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x1000", 0x1000),
        ("0X1F", 0x1F),
        ("0x1_0000", 0x10000),
        ("4096", 4096),
        ("4_096", 4096),
        ("0", 0),
        ("4K", 4 << 10),
        ("64M", 64 << 20),
        ("2G", 2 << 30),
        ("1T", 1 << 40),
        ("1P", 1 << 50),
        ("2E", 2 << 60),
        ("64m", 64 << 20),
        ("64MB", 64 << 20),
        ("64MiB", 64 << 20),
        ("64 M", 64 << 20),
        ("0x10M", 16 << 20),
        ("1.5G", 3 << 29),
        (".5K", 512),
        ("10B", 10),
        ("  7  ", 7),
    ],
)
def test_parse_bytes_reads_hex_decimal_and_binary_units(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    "text", ["", " ", "x", "0x", "0x_1", "-4", "1__0", "1e3", "5Q", "M", "B", "4096ib", "0x1.5K"]
)
def test_parse_bytes_refuses_what_is_not_a_quantity(text: str) -> None:
    with pytest.raises(UnitError, match="not a byte quantity"):
        parse_bytes(text)


@pytest.mark.parametrize("text", ["1.5", "0.1K", "0.3"])
def test_parse_bytes_refuses_fractions_of_a_byte(text: str) -> None:
    with pytest.raises(UnitError, match="not a whole number of bytes"):
        parse_bytes(text)


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("nbytes", "expected"),
    [
        (0, "0 B"),
        (512, "512 B"),
        (4096, "4 KiB"),
        (0x9FC00, "639 KiB"),
        (64 << 20, "64 MiB"),
        (3 << 29, "1.50 GiB"),
        ((2 << 30) - 4096, "2.00 GiB"),
        (1 << 40, "1 TiB"),
        (3 << 60, "3 EiB"),
        (-4096, "-4 KiB"),
    ],
)
def test_format_size_uses_the_largest_binary_unit(nbytes: int, expected: str) -> None:
    assert format_size(nbytes) == expected


@pytest.mark.parametrize(
    ("nbytes", "expected"),
    [
        (0, "0x0"),
        (1, "0x1"),
        (4096, "4K"),
        (128 << 20, "128M"),
        (3 << 30, "3G"),
        (0x1234, "0x1234"),
    ],
)
def test_format_quantity_is_exact_and_short(nbytes: int, expected: str) -> None:
    assert format_quantity(nbytes) == expected


@given(st.integers(min_value=0, max_value=(1 << 70)))
def test_format_quantity_reads_back_exactly(nbytes: int) -> None:
    assert parse_bytes(format_quantity(nbytes)) == nbytes


@given(st.integers(min_value=0, max_value=1 << 64), st.sampled_from(["", "K", "M", "G", "T"]))
def test_parse_bytes_of_a_decimal_with_unit_multiplies(number: int, unit: str) -> None:
    shift = {"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
    assert parse_bytes(f"{number}{unit}") == number << shift


@given(st.text(max_size=12))
def test_parse_bytes_never_raises_anything_but_unit_error(text: str) -> None:
    try:
        value = parse_bytes(text)
    except UnitError:
        return
    assert value >= 0


def test_addresses_and_counts_format_plainly() -> None:
    assert format_addr(0x100000000) == "0x100000000"
    assert format_count(4194304) == "4,194,304"
