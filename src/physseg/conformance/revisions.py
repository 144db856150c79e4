"""Known behaviour differences between revisions of NetBSD's ``uvm_physseg.c``: a divergence
that one of them explains is reported as expected for that revision, not as a bug.

The model follows the revisions from 1.18 on. Each entry names the fields it may change, the
configurations and revisions it applies to, and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from physseg.conformance.config import Config


def parse_revision(text: str | None) -> tuple[int, ...] | None:
    """``"1.9"`` → ``(1, 9)``; ``None`` for ``None`` or a text that is not dotted numbers.
    O(len(text))."""
    if not text:
        return None
    parts = text.split(".")
    if not all(part.isdigit() for part in parts):
        return None
    return tuple(int(part) for part in parts)


@dataclass(frozen=True, slots=True)
class RevisionDifference:
    """A documented difference: ``name``, the state ``fields`` it changes, which
    configurations and revisions it ``applies`` to, and the ``explanation``."""

    name: str
    fields: frozenset[str]
    applies: Callable[[Config, tuple[int, ...]], bool]
    explanation: str


KNOWN: Final = (
    RevisionDifference(
        "static-plug-physmem",
        frozenset({"physmem"}),
        lambda config, rev: not config.hotplug and rev < (1, 18),
        "before revision 1.18 the static build's uvm_physseg_plug() does not add the plugged"
        " pages to physmem (1.18 added `physmem += pages`); the model follows 1.18 and later",
    ),
)
"""Every revision difference physseg knows (docs/conformance.md, Known revision
differences)."""


def applicable(config: Config, revision: str | None) -> tuple[RevisionDifference, ...]:
    """The differences of :data:`KNOWN` that apply to ``config`` at ``revision`` (none when
    the revision is unknown). O(len(KNOWN))."""
    rev = parse_revision(revision)
    if rev is None:
        return ()
    return tuple(d for d in KNOWN if d.applies(config, rev))
