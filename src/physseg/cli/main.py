"""The ``physseg`` command: a thin dispatcher over the subcommand modules.

Each module in :mod:`physseg.cli.commands` exposes ``register(subparsers)``, which adds its
subparser and sets ``func`` (a callable taking the parsed namespace and returning an exit code).

Exit statuses: 0 success; 1 an operational failure (a refused operation, a failing trace line,
a missing or busy machine, an unreadable map); 2 a usage error (argparse) or a state file that
is unusable as it is (``StoreError`` with an exit status of 2: not a physseg machine, corrupt,
invalid, newer); 130 interrupted. Every failure is one line on stderr, ``physseg COMMAND:
MESSAGE``; no traceback reaches the user, not even for a bug (reported as an internal error).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from collections.abc import Sequence
from typing import Any

from physseg import __version__
from physseg.cli.store import StoreError
from physseg.errors import CommandError, KernelAssertionError, KernelPanic, PhysSegError

COMMAND_MODULES = (
    "demo",
    "boot",
    "show",
    "plug",
    "unplug",
    "find",
    "replay",
    "export",
    "map",
    "simulate",
    "bench",
    "completion",
    "man",
    "conformance",
)


class Parser(argparse.ArgumentParser):
    """An argument parser that reads a word starting with ``-`` and a digit (``-4K``,
    ``-0x1000``, ``-.5G``) as a value, never as an option, so a negative quantity reaches its
    argument's type and is refused there by name. argparse itself reads only plain negative
    numbers (``-4``) so; this is the rule Python 3.13's argparse adopted. No subcommand has an
    option spelt like a number."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?[0-9]")


def build_parser() -> argparse.ArgumentParser:
    """Return the full argument parser with every subcommand registered (each a
    :class:`Parser`)."""
    parser = Parser(
        prog="physseg",
        description="A userspace model of NetBSD's uvm_hotplug(9) physical-memory segments.",
    )
    parser.add_argument("--version", action="version", version=f"physseg {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"physseg.cli.commands.{name}")
        module.register(subparsers)
    return parser


def _say(command: str, message: object) -> None:
    """Print ``physseg COMMAND: MESSAGE`` on stderr as one line."""
    text = " ".join(str(message).splitlines())
    print(f"physseg {command}: {text}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit status (0 ok, 1 failure, 2 usage or an
    unusable state file, 130 interrupted; see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.dispatch = main  # for a command that runs other commands (demo)
    args.parser = parser  # for a command that describes the parser (completion, man)
    try:
        status: int = args.func(args)
    except StoreError as exc:
        _say(args.command, exc)
        return exc.exit_status
    except BrokenPipeError:
        # the reader of our output went away (``physseg export | head``): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 1
    except (CommandError, PhysSegError, KernelPanic, KernelAssertionError, OSError) as exc:
        _say(args.command, exc)
        return 1
    except KeyboardInterrupt:
        _say(args.command, "interrupted")
        return 130
    except MemoryError:
        _say(args.command, "out of memory")
        return 1
    except Exception as exc:  # a bug: still one line, never a traceback
        _say(args.command, f"internal error ({type(exc).__name__}: {exc}); please report it")
        return 1
    return status


if __name__ == "__main__":
    sys.exit(main())
