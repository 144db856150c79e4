"""Everything only the ``physseg`` command line uses: the dispatcher, the subcommands, the
machine's database, the trace format, tables, the memory picture and byte units."""

from __future__ import annotations

from physseg.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
