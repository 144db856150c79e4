"""``physseg map``: draw the saved machine's physical address space to a PNG."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from physseg.cli.commands._common import add_common_options, print_json
from physseg.cli.store import reading
from physseg.cli.table import make_console
from physseg.errors import CommandError

DEFAULT_OUTPUT = "physseg-map.png"


def register(subparsers: Any) -> None:
    """Add the ``map`` subcommand."""
    parser = subparsers.add_parser(
        "map",
        help="draw physical memory to a PNG (segments by free list, holes, unplugged ranges)",
        description="Draw the saved machine to a PNG: the whole address space on a log scale "
        "and the RAM to scale with large holes cut out. Reads the machine's database only.",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PNG",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        help=f"where to write the picture (default: ./{DEFAULT_OUTPUT})",
    )
    parser.add_argument(
        "--views",
        choices=("both", "log", "broken"),
        default="both",
        help="both views (default), only the log-scale one, or only the broken-axis one",
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the PNG; returns 0."""
    from physseg.cli.mapplot import layout_from_state, render_map  # matplotlib: 0.7 s to import

    with reading(args.state) as reader:
        state = reader.state()
        layout = layout_from_state(state, reader.journal())
    if not layout.segments:
        raise CommandError(f"nothing to draw: the machine in {args.state} has no segments")
    result = render_map(layout, args.output, views=args.views)
    if args.json:
        print_json(
            {
                "png": str(result.path),
                "width": result.width,
                "height": result.height,
                "segments": len(layout.segments),
                "unplugged": len(layout.unplugged),
                "plugged": len(layout.plugged),
            }
        )
    else:
        make_console().print(
            f"Wrote {result.path} ({result.width}x{result.height} px): {layout.title},"
            f" {len(layout.segments)} segments"
        )
    return 0
