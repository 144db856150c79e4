"""``physseg completion bash|zsh``: print a shell completion script generated from the parser
(with ``shtab``), so completion always knows every subcommand and option of this version.

Install it, for example::

    physseg completion bash > ~/.local/share/bash-completion/completions/physseg
    physseg completion zsh > "${fpath[1]}/_physseg"
"""

from __future__ import annotations

import argparse
from typing import Any, Final

import shtab

from physseg.cli.commands._common import print_json

SHELLS: Final = ("bash", "zsh")
"""The shells a script is generated for."""


def register(subparsers: Any) -> None:
    """Add the ``completion`` subcommand."""
    parser = subparsers.add_parser(
        "completion",
        help="print a bash or zsh completion script generated from this command's parser",
        description="Print a shell completion script for physseg, generated from its argument "
        "parser. bash: save it as ~/.local/share/bash-completion/completions/physseg; zsh: as "
        "_physseg in a directory of $fpath.",
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")
    parser.add_argument("--json", action="store_true", help="print the script as a JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the script for ``args.shell``, generated from ``args.parser`` (the full parser,
    set by the dispatcher); returns 0. O(options)."""
    script = shtab.complete(args.parser, shell=args.shell)
    if args.json:
        print_json({"shell": args.shell, "script": script})
    else:
        print(script, end="")
    return 0
