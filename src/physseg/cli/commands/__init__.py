"""Subcommands of the ``physseg`` command line, one module each."""
