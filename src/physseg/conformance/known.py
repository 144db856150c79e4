"""Known differences between an implementation and the model that are not bugs: revisions of
NetBSD's ``uvm_physseg.c`` (the model follows 1.18 and later) and how extent(9) is built (a
kernel with ``DIAGNOSTIC``, or the ``_EXTENT_TESTING`` build of NetBSD's ATF test). A
divergence one of them explains is reported as expected, with the reason, not as a bug.

A difference either changes state fields (masked when comparing) or is an abort on one side
only at the first difference (matched by the two sides' aborts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from physseg.conformance.compare import Difference, first_difference
from physseg.conformance.config import Config
from physseg.conformance.trace import Abort, Trace

Applies = Callable[[Config, tuple[int, ...] | None, bool], bool]
"""``(config, revision or None, extent_testing)`` → whether a difference can occur."""
AbortMatch = Callable[[Abort | None, Abort | None], bool]
"""``(model's abort, implementation's abort)`` → whether the difference is this one."""


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
class KnownDifference:
    """A documented difference: ``name``, ``kind`` (``revision`` or ``build``), when it
    ``applies``, the state ``fields`` it changes or the ``abort`` it causes, and the
    ``explanation``."""

    name: str
    kind: str
    applies: Applies
    explanation: str
    fields: frozenset[str] = field(default_factory=frozenset)
    abort: AbortMatch | None = None

    def expected(self, revision: str | None) -> str:
        """``expected for revision 1.9`` or ``expected of this build``. O(1)."""
        return (
            f"expected for revision {revision}"
            if self.kind == "revision"
            else ("expected of this build")
        )


def _c_panics_on_oversized_alloc(model: Abort | None, actual: Abort | None) -> bool:
    return (
        model is None
        and actual is not None
        and "extent_alloc_subregion: bad size" in (actual.message)
    )


def _model_panics_in_extent_free(model: Abort | None, actual: Abort | None) -> bool:
    return actual is None and model is not None and model.message.startswith("extent_free")


KNOWN: Final = (
    KnownDifference(
        "static-plug-physmem",
        "revision",
        lambda config, rev, testing: not config.hotplug and rev is not None and rev < (1, 18),
        "before revision 1.18 the static build's uvm_physseg_plug() does not add the plugged"
        " pages to physmem (1.18 added `physmem += pages`); the model follows 1.18 and later",
        fields=frozenset({"physmem"}),
    ),
    KnownDifference(
        "diagnostic-extent-alloc",
        "build",
        lambda config, rev, testing: config.hotplug and not testing,
        "with DIAGNOSTIC, extent_alloc() panics 'bad size' on a request larger than the whole"
        " extent, which a run-time plug's scavenging walk makes of every smaller slab; the"
        " model scans on as a kernel without DIAGNOSTIC does (docs/netbsd-quirks.md, 39)",
        abort=_c_panics_on_oversized_alloc,
    ),
    KnownDifference(
        "extent-testing-free",
        "build",
        lambda config, rev, testing: testing,
        "subr_extent.c built with _EXTENT_TESTING only prints its panics, so a bad"
        " extent_free() returns and the unplug goes on; the model panics as a kernel's"
        " extent(9) does (docs/netbsd-quirks.md, 33)",
        abort=_model_panics_in_extent_free,
    ),
)
"""Every known difference (docs/conformance.md, Known differences)."""


def applicable(
    config: Config, revision: str | None, extent_testing: bool = False
) -> tuple[KnownDifference, ...]:
    """The differences of :data:`KNOWN` that can occur for ``config`` at ``revision`` (an
    unknown revision rules out the revision differences) in this build of extent(9).
    O(len(KNOWN))."""
    rev = parse_revision(revision)
    return tuple(d for d in KNOWN if d.applies(config, rev, extent_testing))


def explain(
    difference: Difference, model: Trace, actual: Trace, known: tuple[KnownDifference, ...]
) -> tuple[KnownDifference | None, Difference]:
    """Which known difference accounts for every way ``actual`` differs from ``model``
    (``difference`` is their first), and the difference to report: ``(cause, difference)``
    when one does (with the fields of ``known`` masked, the traces agree, or first differ in
    an abort one of ``known`` matches), else ``(None, the first difference outside the masked
    fields)``. O(steps · state)."""
    masked = frozenset().union(*(d.fields for d in known))
    rest = first_difference(model, actual, lambda f: f not in masked) if masked else difference
    if rest is None:
        return next(d for d in known if difference.field in d.fields), difference
    if rest.field != "abort":
        return None, rest
    step = rest.step
    mine = model.abort if model.abort is not None and model.abort.step == step else None
    theirs = actual.abort if actual.abort is not None and actual.abort.step == step else None
    cause = next((d for d in known if d.abort is not None and d.abort(mine, theirs)), None)
    return (cause, difference) if cause is not None else (None, rest)
