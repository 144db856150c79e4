"""``physseg demo``: a short scripted session showing what physseg does."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="run a short scripted hot-plug session")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print a short scripted session; returns 0."""
    print("physseg demo: the engine is not built yet")
    return 0
