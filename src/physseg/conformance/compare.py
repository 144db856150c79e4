"""Where two traces of one call sequence first differ."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from physseg.conformance.trace import Trace

FieldFilter = Callable[[str], bool]
"""Says whether a field (``physmem``, ``segment[0].avail_end``, ``result``...) is compared."""


@dataclass(frozen=True, slots=True)
class Difference:
    """The first difference: at call ``step`` (0-based), ``field`` differs: the model's
    ``model`` against the implementation's ``actual`` (``abort`` compares how each ended)."""

    step: int
    field: str
    model: object
    actual: object

    def to_json(self) -> dict[str, object]:
        """The difference as JSON values (non-JSON values as their ``repr``). O(size)."""
        return {
            "step": self.step,
            "field": self.field,
            "model": _jsonable(self.model),
            "implementation": _jsonable(self.actual),
        }


def _jsonable(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return repr(value)


def _abort(trace: Trace) -> object:
    return None if trace.abort is None else f"abort ({trace.abort.kind}): {trace.abort.message}"


def first_difference(
    model: Trace, actual: Trace, compared: FieldFilter = lambda field: True
) -> Difference | None:
    """The first field, in call order, where ``actual`` differs from ``model``, among the
    fields ``compared`` accepts; ``None`` when they agree. Two aborts at the same call agree
    whatever their kind and message (the fact of the abort is compared; the texts are
    reported). O(steps · state)."""
    for step, (mine, theirs) in enumerate(zip(model.steps, actual.steps, strict=False)):
        if mine[0] != theirs[0]:
            return Difference(step, "result", mine[0], theirs[0])
        mine_state = [(f, v) for f, v in mine[1] if compared(f)]
        their_state = [(f, v) for f, v in theirs[1] if compared(f)]
        for (field, value), (other_field, other) in zip(mine_state, their_state, strict=False):
            if field != other_field:
                return Difference(step, field, value, f"(no {field}: {other_field})")
            if value != other:
                return Difference(step, field, value, other)
        if len(mine_state) != len(their_state):
            longer = mine_state if len(mine_state) > len(their_state) else their_state
            field = longer[min(len(mine_state), len(their_state))][0]
            present = len(mine_state) > len(their_state)
            return Difference(
                step, field, "present" if present else None, None if present else "present"
            )
    if len(model.steps) != len(actual.steps) or (model.abort is None) != (actual.abort is None):
        step = min(len(model.steps), len(actual.steps))
        return Difference(step, "abort", _abort(model), _abort(actual))
    return None
