"""What the subcommands share: the ``--state`` and ``--json`` options, byte-quantity and
bounded-integer arguments, and JSON output. The machine itself is read and written through
:mod:`physseg.cli.store`, whose ``StoreError`` the dispatcher turns into one line and an exit
status."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from physseg.cli.store import DEFAULT_STATE_PATH
from physseg.cli.units import UnitError, parse_bytes


def _bytes(text: str, what: str) -> int:
    """``text`` as a byte quantity, or an ``ArgumentTypeError`` quoting it; a leading ``-``
    (which the parser passes as a value, see :mod:`physseg.cli.main`) is refused as a
    negative ``what``."""
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"{text!r}: {what} cannot be negative")
    try:
        return parse_bytes(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def byte_quantity(text: str) -> int:
    """argparse type for a byte address (``0x1000``, ``4096``, ``64M``); a bad or negative
    value is a usage error (exit 2) whose message names the argument and quotes it."""
    return _bytes(text, "an address")


def byte_size(text: str) -> int:
    """argparse type for a size in bytes: as :func:`byte_quantity`, and more than zero."""
    size = _bytes(text, "a size")
    if size == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be more than 0 bytes")
    return size


def int_at_least(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer (decimal, or ``0x``/``0o``/``0b``) of at least
    ``minimum`` (and at most ``maximum``, when given); anything else is an
    ``ArgumentTypeError`` naming the text."""

    def parse(text: str) -> int:
        if len(text) > 40:
            raise argparse.ArgumentTypeError(f"{text[:40]!r}... is not an integer")
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at most {maximum}")
        return value

    return parse


positive_int = int_at_least(1)
"""argparse type: an integer >= 1."""

non_negative_int = int_at_least(0)
"""argparse type: an integer >= 0."""


def add_common_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--state PATH`` and ``--json`` to a subcommand."""
    parser.add_argument(
        "--state",
        metavar="PATH",
        type=Path,
        default=Path(DEFAULT_STATE_PATH),
        help=f"the machine's database (default: ./{DEFAULT_STATE_PATH})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of tables"
    )


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2))
