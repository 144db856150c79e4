"""Every subcommand takes ``--json`` and prints one JSON document on stdout.

The list of subcommands is read from the parser itself, so a new command without ``--json`` (or
without a case here) fails the test instead of being skipped.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.main import build_parser

REPO = Path(__file__).resolve().parent.parent


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> dict:
    """Every runnable command path (``("simulate", "balloon")``...) and its parser."""
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found |= _leaf_commands(sub, (*prefix, name))
    return found or {prefix: parser}


def _argv(command: tuple[str, ...], tmp: Path) -> list[str]:
    state = ["--state", str(tmp / "machine.db")]
    out = str(tmp / "out")
    return {
        ("demo",): ["demo"],
        ("boot",): ["boot", "vm-hotplug", *state],
        ("show",): ["show", *state],
        ("plug",): ["plug", "0x160000000", "512M", *state],
        ("unplug",): ["unplug", "0x168000000", "64M", *state],
        ("find",): ["find", "0x170000000", *state],
        ("replay",): [
            "replay",
            str(REPO / "examples" / "small-machine.jsonl"),
            "--fresh",
            "--state",
            str(tmp / "replayed.db"),
        ],
        ("export",): ["export", "-o", str(tmp / "machine.jsonl"), *state],
        ("map",): ["map", "-o", str(tmp / "map.png"), *state],
        ("simulate", "balloon"): ["simulate", "balloon", "--steps", "4", "--out", out],
        ("simulate", "virtio-mem"): ["simulate", "virtio-mem", "--steps", "4", "--out", out],
        ("bench",): ["bench", "--cases", "100", "--runs", "2", "--out", out, "--no-progress"],
        ("completion",): ["completion", "bash"],
        ("man",): ["man"],
        ("conformance",): [
            "conformance",
            "--reference",
            "--config",
            "rbtree-max2-bsearch",
            "--sequences",
            "3",
        ],
    }[command]


COMMANDS = sorted(_leaf_commands(build_parser()))


def test_every_command_is_covered_and_takes_json() -> None:
    for command, parser in _leaf_commands(build_parser()).items():
        assert any("--json" in action.option_strings for action in parser._actions), command
    assert ("simulate", "balloon") in COMMANDS and ("demo",) in COMMANDS


def test_every_command_prints_one_json_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = [("boot",), ("plug",), ("unplug",), ("find",), ("show",), ("export",), ("map",)]
    rest = [command for command in COMMANDS if command not in order]
    for command in [*order, *rest]:
        status = main([*_argv(command, tmp_path), "--json"])
        captured = capsys.readouterr()
        assert status == 0, (command, captured.err)
        document = json.loads(captured.out)  # one document: trailing text would not parse
        assert isinstance(document, dict) and document, command
