"""The ``physseg`` command: a thin dispatcher over the subcommand modules.

Each module in :mod:`physseg.cli.commands` exposes ``register(subparsers)``, which adds its
subparser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).
Usage errors exit 2 (argparse); operational failures exit 1 with one line on stderr; no
traceback reaches the user.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from physseg import __version__
from physseg.errors import CommandError, KernelAssertionError, KernelPanic, PhysSegError

COMMAND_MODULES = (
    "demo",
    "boot",
    "show",
    "plug",
    "unplug",
    "find",
    "replay",
    "map",
    "simulate",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="physseg",
        description="A userspace model of NetBSD's uvm_hotplug(9) physical-memory segments.",
    )
    parser.add_argument("--version", action="version", version=f"physseg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"physseg.cli.commands.{name}")
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status (0 ok, 1 failure, 2 usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.dispatch = main  # for a command that runs other commands (demo)
    try:
        status: int = args.func(args)
    except (CommandError, PhysSegError, KernelPanic, KernelAssertionError, OSError) as exc:
        print(f"physseg {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"physseg {args.command}: interrupted", file=sys.stderr)
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
