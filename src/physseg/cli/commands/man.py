"""``physseg man``: print the manual page (roff), generated from the parser with
``argparse-manpage``, so it documents every subcommand and option of this version.

Read it with ``physseg man | man -l -``; install it with
``physseg man > ~/.local/share/man/man1/physseg.1``.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from argparse_manpage.manpage import Manpage

from physseg import __version__
from physseg.cli.commands._common import print_json

SHORT_DESCRIPTION: Final = "model NetBSD's uvm_hotplug(9) physical memory segments in userspace"
"""The one line of the page's NAME section."""


def register(subparsers: Any) -> None:
    """Add the ``man`` subcommand."""
    parser = subparsers.add_parser(
        "man",
        help="print the manual page (roff) generated from this command's parser",
        description="Print physseg's manual page in roff, generated from its argument parser: "
        "read it with `physseg man | man -l -`, install it as "
        "~/.local/share/man/man1/physseg.1.",
    )
    parser.add_argument("--json", action="store_true", help="print the page as a JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the page generated from ``args.parser`` (the full parser, set by the dispatcher);
    returns 0. O(options)."""
    page = Manpage(args.parser)
    page.source = f"physseg {__version__}"
    page.manual = "physseg manual"
    page.description = SHORT_DESCRIPTION
    if args.json:
        print_json({"section": 1, "page": str(page)})
    else:
        print(str(page), end="")
    return 0
