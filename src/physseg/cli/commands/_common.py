"""What the subcommands share: the ``--state`` and ``--json`` options, byte-quantity
arguments, and loading / rebuilding / saving the machine with errors turned into one-line
``CommandError`` messages."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

from physseg.cli.state import (
    DEFAULT_STATE_PATH,
    MachineState,
    StateError,
    check_replaceable,
    load_state,
    rebuild,
)
from physseg.cli.units import UnitError, parse_bytes
from physseg.errors import CommandError
from physseg.physmem import PhysMem


def byte_quantity(text: str) -> int:
    """argparse type for an address or size in bytes (``0x1000``, ``4096``, ``64M``); a bad
    value is a usage error (exit 2) whose message quotes it."""
    try:
        return parse_bytes(text)
    except UnitError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def byte_size(text: str) -> int:
    """argparse type for a size in bytes: as :func:`byte_quantity`, and not zero."""
    size = byte_quantity(text)
    if size == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a size must be more than 0 bytes")
    return size


def int_at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer (decimal, or ``0x``/``0o``/``0b``) of at least
    ``minimum``; anything else is an ``ArgumentTypeError`` naming the text."""

    def parse(text: str) -> int:
        try:
            value = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least {minimum}")
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
        help=f"state file of the machine (default: ./{DEFAULT_STATE_PATH})",
    )
    parser.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of tables"
    )


def open_state(path: Path) -> MachineState:
    """The saved machine at ``path``; ``CommandError`` when it is missing, corrupt or newer."""
    try:
        return load_state(path)
    except StateError as exc:
        raise CommandError(str(exc)) from None


def open_machine(path: Path) -> tuple[MachineState, PhysMem]:
    """The saved machine at ``path`` and a ``PhysMem`` rebuilt in exactly its state;
    ``CommandError`` when the file cannot be used."""
    state = open_state(path)
    try:
        return state, rebuild(state, path)
    except StateError as exc:
        raise CommandError(str(exc)) from None


def ensure_replaceable(path: Path) -> None:
    """``CommandError`` unless a new machine may be written to ``path`` (no file, or a state
    file this physseg reads: a corrupt or newer one is never overwritten)."""
    try:
        check_replaceable(path)
    except StateError as exc:
        raise CommandError(str(exc)) from None


def print_json(value: object) -> None:
    """Print ``value`` as indented JSON on stdout."""
    print(json.dumps(value, indent=2))
