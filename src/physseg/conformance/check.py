"""The conformance check of one implementation in one configuration: the ATF scenarios, then
random sequences, each run in lockstep on the model and the implementation, every divergence
shrunk to a minimal call sequence (hypothesis) and explained by a known revision difference
when one accounts for it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from physseg.conformance.calls import Call
from physseg.conformance.clib import CLibrary, CMachine
from physseg.conformance.compare import Difference, first_difference
from physseg.conformance.config import Config
from physseg.conformance.known import KnownDifference, applicable, explain
from physseg.conformance.model import ModelMachine
from physseg.conformance.observe import Machine
from physseg.conformance.repro import c_reproduction
from physseg.conformance.runner import run_forked, run_model
from physseg.conformance.scenarios import SCENARIOS
from physseg.conformance.trace import Trace


@dataclass(frozen=True, slots=True)
class Target:
    """What is checked: the implementation ``machine()`` makes (in the forked child), built
    for (or claiming) ``config``, described by ``description``, at ``revision`` of NetBSD's
    file when known, with extent(9) built as ``_EXTENT_TESTING`` (``extent_testing``) or as
    in a kernel; ``set_abort_fd`` is the runtime's setter (``None`` for a Python machine,
    which raises the model's aborts)."""

    config: Config
    description: str
    machine: Callable[[], Machine]
    set_abort_fd: Callable[[int], None] | None = None
    revision: str | None = None
    extent_testing: bool = False

    @classmethod
    def of_library(
        cls,
        config: Config,
        library: CLibrary,
        set_abort_fd: Callable[[int], None],
        revision: str | None = None,
        extent_testing: bool = False,
    ) -> Target:
        """The target of a loaded C library. O(1)."""
        return cls(
            config,
            library.description,
            lambda: CMachine(library),
            set_abort_fd,
            revision,
            extent_testing,
        )


@dataclass(frozen=True, slots=True)
class Divergence:
    """One sequence on which the implementation and the model part: where it came from
    (``origin``: ``sequence`` or ``atf:<case>``), its (minimal) ``calls``, both traces, the
    first ``difference``, and ``explained_by`` (a known revision or build difference) when
    one accounts for it."""

    config: str
    origin: str
    calls: tuple[Call, ...]
    model: Trace
    actual: Trace
    difference: Difference
    explained_by: KnownDifference | None = None

    def reproduction(self) -> str:
        """The C reproduction (:func:`~physseg.conformance.repro.c_reproduction`). O(calls)."""
        title = f"{self.config}, {self.origin}"
        return c_reproduction(self.calls, self.model, self.difference, title)

    def to_json(self) -> dict[str, object]:
        """The divergence as a JSON document: configuration, origin, calls, both sides' results
        call by call, the first difference, the explanation and the C reproduction.
        O(calls)."""
        return {
            "config": self.config,
            "origin": self.origin,
            "calls": [call.to_json() for call in self.calls],
            "model": _results(self.model),
            "implementation": _results(self.actual),
            "first_difference": self.difference.to_json(),
            "explained_by": None
            if self.explained_by is None
            else {
                "name": self.explained_by.name,
                "kind": self.explained_by.kind,
                "explanation": self.explained_by.explanation,
            },
            "c_reproduction": self.reproduction(),
        }


def _results(trace: Trace) -> dict[str, object]:
    abort = trace.abort
    return {
        "results": [[_plain(value) for value in result] for result, _ in trace.steps],
        "abort": None
        if abort is None
        else {"step": abort.step, "kind": abort.kind, "message": abort.message},
    }


def _plain(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return repr(value)


@dataclass(slots=True)
class ConfigReport:
    """What the check of one configuration found: counts, divergences (unexplained first
    found, shrunk) and explained ones (the first of each kind), and the time it took."""

    config: str
    implementation: str
    revision: str | None
    sequences: int = 0
    calls: int = 0
    scenarios: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    explained: dict[str, tuple[int, Divergence]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The report as a JSON document. O(divergences · calls)."""
        return {
            "config": self.config,
            "implementation": self.implementation,
            "revision": self.revision,
            "sequences": self.sequences,
            "calls": self.calls,
            "atf_scenarios": self.scenarios,
            "divergences": [d.to_json() for d in self.divergences],
            "explained": [
                {"name": name, "sequences": count, "example": example.to_json()}
                for name, (count, example) in self.explained.items()
            ],
            "seconds": round(self.seconds, 3),
        }


class _Diverged(Exception):
    """Raised inside the hypothesis test to mark an unexplained divergence."""


class Checker:
    """Runs sequences of calls on the model and on ``target`` in lockstep."""

    __slots__ = ("hang_timeout", "report", "target")

    def __init__(self, target: Target, hang_timeout: float) -> None:
        self.target = target
        self.hang_timeout = hang_timeout
        self.report = ConfigReport(target.config.name, target.description, target.revision)

    def lockstep(
        self, calls: Sequence[Call], origin: str, *, counted: bool = True
    ) -> Divergence | None:
        """Run ``calls`` on both sides and compare; a divergence (explained or not) or
        ``None``. Counts the sequence and its calls when ``counted``. O(calls · state) plus a
        fork."""
        config = self.target.config
        model = run_model(ModelMachine(config.kernel()), calls)
        actual = run_forked(self.target.machine, calls, self.hang_timeout, self.target.set_abort_fd)
        if counted:
            self.report.sequences += 1
            self.report.calls += len(calls)
        difference = first_difference(model, actual)
        if difference is None:
            return None
        target = self.target
        known = applicable(config, target.revision, target.extent_testing)
        cause, difference = explain(difference, model, actual, known)
        return Divergence(config.name, origin, tuple(calls), model, actual, difference, cause)

    def _explained(self, divergence: Divergence) -> None:
        cause = divergence.explained_by
        assert cause is not None
        count, example = self.report.explained.get(cause.name, (0, divergence))
        self.report.explained[cause.name] = (count + 1, example)

    def minimise(self, divergence: Divergence) -> Divergence:
        """``divergence`` on a 1-minimal sequence: the calls after the first difference
        dropped, then single calls removed while an unexplained divergence remains.
        O(calls²) lockstep runs at most."""
        best = divergence
        calls = list(divergence.calls[: divergence.difference.step + 1])
        if len(calls) < len(best.calls):
            shorter = self.lockstep(calls, best.origin, counted=False)
            if shorter is not None and shorter.explained_by is None:
                best = shorter
        i = 0
        while i < len(best.calls) and len(best.calls) > 1:
            trial = [*best.calls[:i], *best.calls[i + 1 :]]
            found = self.lockstep(trial, best.origin, counted=False)
            if found is not None and found.explained_by is None:
                best = found
            else:
                i += 1
        return best

    def run_scenarios(self) -> None:
        """Every ATF scenario that applies to the configuration; each unexplained divergence
        is recorded on the sequence :meth:`minimise` leaves (origin ``atf:<case>``)."""
        for scenario in SCENARIOS:
            calls = scenario.build(self.target.config)
            if calls is not None:
                self.report.scenarios += 1
                divergence = self.lockstep(calls, f"atf:{scenario.name}")
                if divergence is None:
                    continue
                if divergence.explained_by is None:
                    self.report.divergences.append(self.minimise(divergence))
                else:
                    self._explained(divergence)

    def run_sequences(self, sequences: int, seed: int) -> None:
        """Up to ``sequences`` random sequences (seeded by ``seed``); the first unexplained
        divergence is shrunk (hypothesis on the draws, then :meth:`minimise` on the calls)
        and recorded, which ends the search (one minimal failure per configuration).
        Explained divergences are counted and the search goes on."""
        if sequences <= 0:
            return
        # Imported here, not at the top: every physseg command's parser imports this module
        # (through the conformance and bench commands), and hypothesis costs ~0.1 s to import.
        from hypothesis import HealthCheck, Phase, Verbosity, given, settings
        from hypothesis import seed as hypothesis_seed
        from hypothesis import strategies as st
        from hypothesis.errors import Flaky

        from physseg.conformance.sequences import draw_sequence

        config = self.target.config
        last: list[Divergence] = []

        @settings(
            max_examples=sequences,
            database=None,
            deadline=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            phases=(Phase.generate, Phase.shrink),
            print_blob=False,
        )
        @given(st.data())
        def lockstep_sequence(data: st.DataObject) -> None:
            calls = draw_sequence(data, config)
            divergence = self.lockstep(calls, "sequence")
            if divergence is None:
                return
            if divergence.explained_by is not None:
                self._explained(divergence)
                return
            last.append(divergence)
            raise _Diverged

        with contextlib.suppress(_Diverged, Flaky):
            hypothesis_seed(seed)(lockstep_sequence)()
        if last:
            self.report.divergences.append(self.minimise(min(last, key=lambda d: len(d.calls))))


def check(
    target: Target, sequences: int, seed: int, hang_timeout: float, *, atf: bool = True
) -> ConfigReport:
    """Check ``target``: the ATF scenarios (unless ``atf`` is false), then ``sequences``
    random sequences. O(sequences · calls · state), one fork per sequence run (shrinking runs
    more). Raises :class:`~physseg.conformance.runner.HarnessError` on a harness failure."""
    started = time.perf_counter()
    checker = Checker(target, hang_timeout)
    if atf:
        checker.run_scenarios()
    checker.run_sequences(sequences, seed)
    checker.report.seconds = time.perf_counter() - started
    return checker.report
