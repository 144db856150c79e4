"""Fenced code blocks of the README and ``docs/*.md``, and how the suite runs them.

A block's info string decides what happens to it:

* ``sh`` / ``bash``: shell commands, run in the document's session (``bash -e``);
* ``console``: a transcript: each ``$ command`` line is run in the session and what it prints
  must match the lines shown under it (doctest's rules: ``...`` stands for any text, a line of
  just ``...`` for any number of lines, runs of blanks compare equal);
* ``python`` / ``py``: doctests when the block holds ``>>>`` prompts (shown output checked),
  otherwise a snippet that must run without raising; a document's Python blocks share one
  namespace, in order;
* anything else (no info string, ``text``, ``json``, ``trace``...): data or output shown
  for reading, not run.

A runnable block preceded by ``<!-- docs-test: skip REASON -->`` is not run; the reason is
required (e.g. ``make run`` cannot run inside the suite it starts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

RUNNABLE: Final = {
    "sh": "sh",
    "bash": "sh",
    "console": "console",
    "python": "python",
    "py": "python",
}
"""Info strings of the blocks the suite runs, and the kind each is run as."""
SKIP: Final = re.compile(r"<!--\s*docs-test:\s*skip\b\s*(?P<reason>.*?)\s*-->")
FENCE: Final = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,})(?P<info>[^`]*)$")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: its document, first line (1-based, the fence), kind and text."""

    path: Path
    line: int
    kind: str | None
    """``"sh"``, ``"console"``, ``"python"`` or ``None`` (not run)."""
    info: str
    text: str
    skip_reason: str | None

    def where(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file ``path``, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence = opening["fence"]
        info = opening["info"].strip().split(" ")[0].lower()
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].lstrip().startswith(fence):
            body.append(lines[j])
            j += 1
        before = lines[i - 1] if i > 0 else ""
        skip = SKIP.search(before)
        found.append(
            Block(
                path=path,
                line=i + 1,
                kind=RUNNABLE.get(info),
                info=info,
                text="\n".join(body) + "\n",
                skip_reason=None if skip is None else skip["reason"],
            )
        )
        i = j + 1
    return found


def transcript(block: Block) -> list[tuple[str, str]]:
    """A ``console`` block as (command, expected output) pairs."""
    pairs: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            pairs.append((line[2:], []))
        elif pairs:
            pairs[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"{block.where()}: output before the first `$ ` command")
    return [(command, "\n".join(shown).strip("\n")) for command, shown in pairs]
