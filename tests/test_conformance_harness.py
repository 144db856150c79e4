"""The conformance harness on Python machines: the model against itself (no divergence) and
against deliberately bent models (each caught, shrunk to a few calls); aborts, signals and
hangs in the forked child reported, never fatal to the run. No C compiler needed."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest

from physseg.conformance.calls import Call
from physseg.conformance.check import Target, check
from physseg.conformance.compare import first_difference
from physseg.conformance.config import ALL_CONFIGS, Config
from physseg.conformance.model import ModelMachine
from physseg.conformance.repro import c_reproduction
from physseg.conformance.revisions import KNOWN, applicable, parse_revision
from physseg.conformance.runner import HarnessError, run_forked, run_model
from physseg.conformance.scenarios import SCENARIOS

RBTREE = Config.parse("rbtree-max32-bsearch")
BOOTED = [
    Call("physload", (0, 16, 0, 16, 0)),
    Call("physload", (20, 30, 22, 30, 1)),
    Call("page_init", (26,)),
]


def model_target(config: Config, machine: type[ModelMachine] = ModelMachine) -> Target:
    return Target(config, machine.__name__, lambda: machine(config.kernel()))


class FindOffByOne(ModelMachine):
    """``find`` misses the last frame of every segment (a wrong boundary)."""

    __slots__ = ()

    def find(self, pfn: int) -> tuple[object, int | None]:
        h, off = super().find(pfn)
        if off is not None and self.valid(h) and pfn == self.field("end", h) - 1:
            return self.kernel.UVM_PHYSSEG_TYPE_INVALID, None
        return h, off


class ForgetsNpages(ModelMachine):
    """Reports ``uvmexp.npages`` one short after any run-time unplug."""

    __slots__ = ("unplugged",)

    def __init__(self, kernel: Any) -> None:
        super().__init__(kernel)
        self.unplugged = False

    def unplug(self, pfn: int, pages: int) -> bool:
        ok = super().unplug(pfn, pages)
        self.unplugged = self.unplugged or (ok and self.kernel.uvm.page_init_done)
        return ok

    def counters(self) -> tuple[int, int, int, bool]:
        entries, npages, physmem, done = super().counters()
        return entries, npages + self.unplugged, physmem, done


class NeverPanics(ModelMachine):
    """Returns false where the kernel panics on removing the last segment (a wrong abort)."""

    __slots__ = ()

    def unplug(self, pfn: int, pages: int) -> bool:
        h, _ = self.kernel.uvm_physseg_find(pfn)
        whole = self.valid(h) and self.field("end", h) - self.field("start", h) == pages
        if whole and self.kernel.uvm_physseg_get_entries() == 1:
            return False
        return super().unplug(pfn, pages)


@pytest.mark.parametrize(
    "config",
    [
        Config.parse(n)
        for n in (
            "rbtree-max32-bsearch",
            "rbtree-max1-random",
            "static-max2-bigfirst",
            "static-max32-random",
        )
    ],
    ids=lambda c: c.name,
)
def test_the_model_conforms_to_itself(config: Config) -> None:
    report = check(model_target(config), 60, 3, 10.0)
    assert report.divergences == []
    assert report.sequences >= 60 + report.scenarios
    assert report.scenarios == sum(s.applies(config) for s in SCENARIOS) > 10


@pytest.mark.parametrize("bent", [FindOffByOne, ForgetsNpages, NeverPanics])
def test_a_bent_model_is_caught_with_a_short_reproduction(bent: type[ModelMachine]) -> None:
    report = check(model_target(RBTREE, bent), 400, 1, 10.0, atf=False)
    assert len(report.divergences) == 1
    divergence = report.divergences[0]
    assert divergence.explained_by is None
    assert 1 <= len(divergence.calls) <= 6
    assert divergence.difference.step == len(divergence.calls) - 1
    text = divergence.reproduction()
    assert "psc_boot();" in text
    assert "<-- the first difference" in text
    assert text.count("\tpsc_") + text.count("= psc_") >= len(divergence.calls)


def test_identical_traces_agree_and_each_kind_of_difference_is_named() -> None:
    model = run_model(ModelMachine(RBTREE.kernel()), BOOTED)
    assert first_difference(model, run_model(ModelMachine(RBTREE.kernel()), BOOTED)) is None
    bent = run_model(ForgetsNpages(RBTREE.kernel()), [*BOOTED, Call("unplug", (0, 1))])
    longer = run_model(ModelMachine(RBTREE.kernel()), [*BOOTED, Call("unplug", (0, 1))])
    difference = first_difference(longer, bent)
    assert difference is not None
    assert (difference.step, difference.field) == (3, "uvmexp.npages")
    assert difference.model == 23 and difference.actual == 24
    assert first_difference(longer, bent, lambda f: f != "uvmexp.npages") is None
    shorter = first_difference(longer, model)
    assert shorter is not None and shorter.field == "abort"


def test_a_panic_in_the_child_is_an_abort_at_its_call() -> None:
    calls = [*BOOTED, Call("physload", (40, 48, 40, 48, 0)), Call("find", (3,))]
    trace = run_forked(lambda: ModelMachine(RBTREE.kernel()), calls, 10.0)
    assert len(trace.steps) == 3
    assert trace.abort is not None
    assert (trace.abort.step, trace.abort.kind) == (3, "panic")
    assert "uvm_page_init" in trace.abort.message


class Segfaults(ModelMachine):
    __slots__ = ()

    def highest_frame(self) -> int:
        os.kill(os.getpid(), signal.SIGSEGV)
        return 0


class Hangs(ModelMachine):
    __slots__ = ()

    def find(self, pfn: int) -> tuple[object, int | None]:
        time.sleep(30)
        return super().find(pfn)


class Broken(ModelMachine):
    __slots__ = ()

    def find(self, pfn: int) -> tuple[object, int | None]:
        raise ZeroDivisionError("harness bug")


def test_a_signal_ends_the_child_not_the_run() -> None:
    trace = run_forked(
        lambda: Segfaults(RBTREE.kernel()), [*BOOTED, Call("highest_frame", ())], 10.0
    )
    assert trace.abort is not None
    assert (trace.abort.step, trace.abort.kind, trace.abort.message) == (3, "signal", "SIGSEGV")


def test_a_call_that_does_not_return_is_a_hang() -> None:
    started = time.monotonic()
    trace = run_forked(lambda: Hangs(RBTREE.kernel()), [*BOOTED, Call("find", (3,))], 0.5)
    assert time.monotonic() - started < 10
    assert trace.abort is not None
    assert (trace.abort.step, trace.abort.kind) == (3, "hang")


def test_a_failure_of_the_harness_itself_is_raised_with_its_traceback() -> None:
    with pytest.raises(HarnessError, match="ZeroDivisionError: harness bug"):
        run_forked(lambda: Broken(RBTREE.kernel()), [Call("find", (3,))], 10.0)


def test_calls_are_validated_and_round_trip_through_json() -> None:
    call = Call("unplug", (4, 2))
    assert str(call) == "unplug(pfn=4, pages=2)"
    assert Call.from_json(call.to_json()) == call
    assert str(Call("phys_to_vm_page", (0x5000,))) == "phys_to_vm_page(pa=0x5000)"
    for name, args in (("unplug", (4,)), ("nonsense", ()), ("find", (-1,)), ("find", (True,))):
        with pytest.raises(ValueError):
            Call(name, args)
    with pytest.raises(ValueError):
        Call.from_json({"call": "find"})


def test_configurations_parse_and_name_all_eighteen_builds() -> None:
    assert len({c.name for c in ALL_CONFIGS}) == 18
    config = Config.parse("static-max2-bigfirst")
    assert (config.hotplug, config.physseg_max, config.strategy, config.strat) == (
        False,
        2,
        "bigfirst",
        3,
    )
    assert config.defines() == [
        "-DPSC_UVM_HOTPLUG=0",
        "-DPSC_VM_PHYSSEG_MAX=2",
        "-DPSC_VM_PHYSSEG_STRAT=3",
    ]
    for bad in ("rbtree-32-bsearch", "tree-max1-random", "rbtree-max0-random", "rbtree-max1-fast"):
        with pytest.raises(ValueError):
            Config.parse(bad)


def test_revision_differences_apply_by_configuration_and_revision() -> None:
    static = Config.parse("static-max32-bsearch")
    assert parse_revision("1.9") == (1, 9) and parse_revision("HEAD") is None
    assert [d.name for d in applicable(static, "1.9")] == ["static-plug-physmem"]
    assert applicable(static, "1.20") == () and applicable(static, None) == ()
    assert applicable(RBTREE, "1.9") == ()
    assert all(d.explanation and d.fields for d in KNOWN)


class NoPhysmem(ModelMachine):
    """Rev 1.9's static plug: physmem never counted."""

    __slots__ = ()

    def counters(self) -> tuple[int, int, int, bool]:
        entries, npages, _, done = super().counters()
        return entries, npages, 0, done


def test_a_documented_revision_difference_is_explained_not_a_divergence() -> None:
    static = Config.parse("static-max32-bsearch")
    target = Target(static, "rev 1.9", lambda: NoPhysmem(static.kernel()), None, "1.9")
    report = check(target, 30, 2, 10.0)
    assert report.divergences == []
    count, example = report.explained["static-plug-physmem"]
    assert count >= 30
    assert example.explained_by is not None and example.difference.field == "physmem"
    unexplained = check(Target(static, "HEAD", target.machine, None, "1.20"), 30, 2, 10.0)
    assert unexplained.divergences
    assert {d.difference.field for d in unexplained.divergences} == {"physmem"}


def test_a_reproduction_escapes_comment_terminators() -> None:
    model = run_model(ModelMachine(RBTREE.kernel()), BOOTED)
    difference = first_difference(model, run_model(ModelMachine(RBTREE.kernel()), BOOTED[:2]))
    assert difference is not None
    text = c_reproduction(BOOTED, model, difference, "title */ with a terminator")
    body = text.split("*/", 1)[1]
    assert "/* 1: physload" in body and "title * / with" in text
