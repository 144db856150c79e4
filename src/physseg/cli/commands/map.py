"""``physseg map``: draw the saved machine's physical address space to a PNG."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from physseg.cli.commands._common import add_common_options, print_json
from physseg.cli.store import reading
from physseg.cli.table import make_console
from physseg.cli.trace import TraceOp
from physseg.errors import CommandError

if TYPE_CHECKING:
    from rich.progress import Progress

DEFAULT_OUTPUT = "physseg-map.png"


def register(subparsers: Any) -> None:
    """Add the ``map`` subcommand."""
    parser = subparsers.add_parser(
        "map",
        help="draw physical memory to a PNG (segments by free list, holes, unplugged ranges)",
        description="Draw the saved machine to a PNG: the whole address space on a log scale "
        "and the RAM to scale with large holes cut out, one stacked bar per pixel column "
        "(the shares of managed, unplugged and unmanaged memory it covers). Reads the "
        "machine's database only; shows progress on a terminal.",
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


def map_progress(stream: TextIO | None = None) -> Progress:
    """The progress display of ``map`` on ``stream`` (stderr): a bar per step, erased when
    done; disabled unless ``stream`` is a terminal, so pipes and files get nothing (imported
    here: every other command starts without ``rich.progress``)."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    target = sys.stderr if stream is None else stream
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=target, force_terminal=target.isatty()),
        transient=True,
        disable=not target.isatty(),
    )


def _counted(ops: Iterator[TraceOp], progress: Progress, total: int) -> Iterator[TraceOp]:
    task = progress.add_task("reading the journal", total=total)
    for op in ops:
        progress.advance(task)
        yield op


def run(args: argparse.Namespace) -> int:
    """Write the PNG; returns 0. Raises ``CommandError`` for a machine without segments or
    a PNG that cannot be written (naming the path given), ``StoreError`` from reading."""
    from physseg.cli.mapplot import layout_from_state, render_map  # matplotlib: 0.7 s to import

    with map_progress() as progress:
        with reading(args.state) as reader:
            state = reader.state()
            layout = layout_from_state(
                state, _counted(reader.journal(), progress, state.operations)
            )
        if not len(layout.segments):
            raise CommandError(f"nothing to draw: the machine in {args.state} has no segments")
        progress.add_task(f"drawing {len(layout.segments):,} segments", total=None)
        try:
            result = render_map(layout, args.output, views=args.views)
        except OSError as exc:
            raise CommandError(f"cannot write {args.output} ({exc.strerror or exc})") from None
    if args.json:
        print_json(
            {
                "png": str(result.path),
                "width": result.width,
                "height": result.height,
                "segments": len(layout.segments),
                "unplugged": len(layout.unplugged),
                "plugged": len(layout.plugged),
                "bytes_per_pixel": result.bytes_per_pixel,
            }
        )
    else:
        make_console().print(
            f"Wrote {result.path} ({result.width}x{result.height} px): {layout.title},"
            f" {len(layout.segments)} segments"
        )
    return 0
