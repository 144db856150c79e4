"""``physseg demo``: a short scripted session, the first thing a new user runs.

It boots the shipped ``vm-hotplug`` map (a guest whose last 512 MiB block is offline), plugs
that block in, unplugs 64 MiB from its middle, looks two addresses up and shows the machine.
Each step prints the command a user would type and runs exactly that command, against a state
file in a temporary directory (the working directory is left alone).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
from pathlib import Path
from typing import Any, Final

from physseg.cli.commands._common import print_json
from physseg.cli.store import DEFAULT_STATE_PATH
from physseg.errors import CommandError

SCRIPT: Final = (
    ("Boot a small VM from its lsmem output, the way NetBSD/x86 loads RAM", ["boot", "vm-hotplug"]),
    ("Hot-plug the block lsmem lists as offline", ["plug", "0x160000000", "512M"]),
    ("Unplug 64 MiB from its middle: the segment splits in two", ["unplug", "0x168000000", "64M"]),
    ("Look up an address in the hole just made", ["find", "0x16a000000"]),
    ("... and one that is still managed", ["find", "0x170000000"]),
    ("The whole machine", ["show"]),
)
"""(what the step shows, the command's arguments)."""


def register(subparsers: Any) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run a short scripted session: boot a map, plug, unplug, find, show",
        description="Run a short scripted session on a shipped memory map, printing each "
        "command before its output. Uses a temporary machine database.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="run every step with --json and print one JSON document of all the steps",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run every step of :data:`SCRIPT`; returns 0. Raises ``CommandError`` if a step fails
    (which would be a bug). Runs each step through ``args.dispatch``, the dispatcher that
    called it (so this module needs no import of it). With ``--json`` each step runs with
    ``--json`` and one document lists the steps and their parsed output."""
    main = args.dispatch
    steps: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="physseg-demo-") as directory:
        state = str(Path(directory) / DEFAULT_STATE_PATH)
        for number, (what, argv) in enumerate(SCRIPT, start=1):
            command = f"physseg {' '.join(argv)}"
            printed = io.StringIO()
            if args.json:
                with contextlib.redirect_stdout(printed):
                    status = main([*argv, "--state", state, "--json"])
            else:
                print(f"\n# {number}. {what}")
                print(f"$ {command}", flush=True)
                status = main([*argv, "--state", state])
            if status != 0:
                raise CommandError(f"demo step {number} ({command}) failed")
            if args.json:
                output = json.loads(printed.getvalue())
                steps.append({"step": number, "what": what, "command": command, "output": output})
    if args.json:
        print_json({"steps": steps})
        return 0
    print(
        "\nNext: `physseg boot desktop-16g`, `physseg replay examples/hotplug.trace`,"
        " `physseg map -o memory.png` (see docs/cli.md)."
    )
    return 0
