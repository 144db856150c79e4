"""physseg.bench.ccompare: the live C comparator of ``physseg bench`` (a C implementation of
the conformance ABI replaying a case's layout in a forked child and timing the same addresses),
and how the runner, the report and the command line carry its figures and its failures."""

from __future__ import annotations

import datetime
import faulthandler
import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from physseg.bench import ccompare, report
from physseg.bench.ccompare import OWN_C, CSide, physseg_max_for
from physseg.bench.impls import IMPLS
from physseg.bench.reference import CReference
from physseg.bench.runner import BenchResults, environment, run_lookup_case
from physseg.bench.workloads import CASES, LookupCase, build_kernel
from physseg.cli import main
from physseg.conformance.check import Target
from physseg.conformance.config import Config
from physseg.conformance.observe import Machine
from physseg.conformance.targets import reference_target
from physseg.errors import CComparatorError

NETBSD_SRC_ENV = "PHYSSEG_NETBSD_SRC"
"""A NetBSD source tree to run the NetBSD comparator on (the suite cannot ship one)."""


def lookup_case(name: str) -> LookupCase:
    case = CASES[name]
    assert isinstance(case, LookupCase)
    return case


@pytest.fixture(scope="module")
def own_c() -> CSide:
    """physseg's own C, built for the 32- and 33-segment cases."""
    side = CSide.prepare(None, [("rbtree", 32), ("rbtree", 33)])
    assert side.reference.measured, side.reference.reason
    return side


def crashing_machine() -> Machine:
    """A machine whose construction (in the child) dies of a segmentation fault."""
    faulthandler.disable()  # no traceback dump from the child in the test's output
    os.kill(os.getpid(), signal.SIGSEGV)
    raise AssertionError("still alive after SIGSEGV")


def side_of(target: Target, physseg_max: int = 32) -> CSide:
    """A C side offering the R-B tree build through ``target`` alone."""
    return CSide(CReference.live("test C", "cc"), ("rbtree",), {("rbtree", physseg_max): target})


# --------------------------------------------------------------------- sizes
@given(st.integers(min_value=1, max_value=1 << 40))
def test_the_c_build_holds_the_next_power_of_two_of_segments(segments: int) -> None:
    physseg_max = physseg_max_for(segments)
    assert physseg_max & (physseg_max - 1) == 0
    assert segments <= physseg_max < 2 * segments


def test_a_negative_segment_count_is_refused() -> None:
    with pytest.raises(ValueError, match="-1"):
        physseg_max_for(-1)


# --------------------------------------------------------------------- the figures
def test_a_c_figure_is_positive_and_finite_for_a_small_case(own_c: CSide) -> None:
    impls = [IMPLS["fast-rbtree"], IMPLS["c-rbtree"]]
    result = run_lookup_case(lookup_case("1K"), impls, runs=3, lookups=1000, seed=1, c_side=own_c)
    assert result.impl_names() == ["fast-rbtree", "c-rbtree"]
    assert result.c_failures == {}
    c_times = result.times["c-rbtree"]
    assert len(c_times) == 3 and all(math.isfinite(t) and t > 0 for t in c_times)
    c_ns = report.c_ns(result, "fast-rbtree")
    assert c_ns is not None and math.isfinite(c_ns) and c_ns > 0
    assert result.build_s["c-rbtree"] > 0 and result.warmup_s["c-rbtree"] > 0


def test_c_stands_only_beside_the_builds_it_offers(own_c: CSide) -> None:
    impls = [IMPLS["fast-static"], IMPLS["c-static"], IMPLS["c-rbtree"]]
    result = run_lookup_case(lookup_case("100"), impls, runs=2, lookups=100, seed=1, c_side=own_c)
    assert result.impl_names() == ["fast-static", "c-rbtree"]  # own C has no static build
    assert report.c_ns(result, "fast-static") is None


def test_a_comparator_times_requests_until_it_is_closed(own_c: CSide) -> None:
    case = lookup_case("1MB")
    kernel = build_kernel(case, "rbtree", 1)
    with own_c.spawn("c-rbtree", "rbtree", case.segments) as c_lookup:
        c_lookup.replay(kernel)
        addresses = case.addresses(np.random.default_rng(1), 5000)
        cpu_ns, wall_ns = c_lookup.time_lookups(addresses)
        assert 0 < cpu_ns <= wall_ns
        assert min(c_lookup.time_lookups(addresses[:1])) >= 0
    assert c_lookup.pid is None
    with pytest.raises(CComparatorError, match="closed"):
        c_lookup.time_lookups(addresses)


def test_the_caption_names_the_implementation_the_machine_and_the_day(own_c: CSide) -> None:
    caption = own_c.reference.caption()
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    assert caption.startswith(OWN_C)
    assert "not NetBSD's code" in caption and "measured live in this run" in caption
    assert today in caption and str(os.cpu_count()) in caption


# --------------------------------------------------------------------- failures
def test_a_crash_during_replay_is_reported_not_raised_by_the_runner() -> None:
    target = Target(Config(True, 32, "bsearch"), "crashes", crashing_machine)
    side = side_of(target)
    kernel = build_kernel(lookup_case("1K"), "rbtree", 1)
    with pytest.raises(CComparatorError) as failed:
        side.spawn("c-rbtree", "rbtree", 32).replay(kernel)
    assert (failed.value.stage, failed.value.detail) == ("replay", "killed by SIGSEGV")
    impls = [IMPLS["fast-rbtree"], IMPLS["c-rbtree"]]
    result = run_lookup_case(lookup_case("1K"), impls, runs=2, lookups=500, seed=1, c_side=side)
    assert result.impl_names() == ["fast-rbtree"]
    assert set(result.times) == {"fast-rbtree"}
    assert result.c_failures == {"c-rbtree": "c-rbtree failed during replay: killed by SIGSEGV"}


def hanging_machine() -> Machine:
    """A machine whose construction never returns."""
    while True:
        time.sleep(1)


def failing_machine() -> Machine:
    """A machine whose construction raises (a harness-side failure)."""
    raise RuntimeError("no such machine")


def exiting_machine() -> Machine:
    """A machine whose construction ends the process with status 3."""
    os._exit(3)


@pytest.mark.parametrize(
    ("machine", "detail"),
    [
        (hanging_machine, "no answer within 0.5 s"),
        (failing_machine, "harness error: RuntimeError: no such machine"),
        (exiting_machine, "exit status 3"),
    ],
)
def test_every_way_a_child_ends_is_named(
    machine: Callable[[], Machine], detail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ccompare, "REPLAY_TIMEOUT", 0.5)
    c_lookup = side_of(Target(Config(True, 32, "bsearch"), "fails", machine)).spawn(
        "c-rbtree", "rbtree", 32
    )
    with pytest.raises(CComparatorError) as failed:
        c_lookup.replay(build_kernel(lookup_case("1K"), "rbtree", 1))
    assert (failed.value.stage, failed.value.detail) == ("replay", detail)
    assert c_lookup.pid is None


def test_a_c_implementation_failing_mid_run_is_dropped_and_the_case_goes_on(
    own_c: CSide, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    answered = 0
    time_lookups = ccompare.CLookup.time_lookups

    def fails_after_the_warm_up(
        self: ccompare.CLookup, addresses: npt.NDArray[np.uint64]
    ) -> tuple[int, int]:
        nonlocal answered
        answered += 1
        if answered > 1:
            raise CComparatorError(self.name, "lookup", "killed by SIGBUS")
        return time_lookups(self, addresses)

    monkeypatch.setattr(ccompare.CLookup, "time_lookups", fails_after_the_warm_up)
    impls = [IMPLS["fast-rbtree"], IMPLS["c-rbtree"]]
    result = run_lookup_case(lookup_case("1K"), impls, runs=3, lookups=500, seed=1, c_side=own_c)
    assert result.impl_names() == ["fast-rbtree"] and len(result.times["fast-rbtree"]) == 3
    assert "c-rbtree" not in result.times and "c-rbtree" not in result.warmup_s
    failure = "c-rbtree failed during lookup: killed by SIGBUS"
    assert result.c_failures == {"c-rbtree": failure}
    bench = BenchResults("tiny", 1, "physseg bench", [result], [], environment(), 1.0)
    report.write_markdown(bench, tmp_path / "report.md", [])
    assert f"*{failure}; not in this case's table.*" in (tmp_path / "report.md").read_text()


def test_a_panic_during_replay_carries_the_kernels_message() -> None:
    too_small = reference_target(Config(True, 1, "bsearch"))  # a boot pool of one record
    kernel = build_kernel(lookup_case("1K"), "rbtree", 1)  # 32 segments loaded at boot
    with pytest.raises(CComparatorError) as failed:
        side_of(too_small).spawn("c-rbtree", "rbtree", 32).replay(kernel)
    assert failed.value.stage == "replay"
    assert failed.value.detail.split(":")[0] in ("panic", "kassert"), failed.value.detail


def test_a_child_killed_while_timing_is_reported(own_c: CSide) -> None:
    kernel = build_kernel(lookup_case("1K"), "rbtree", 1)
    c_lookup = own_c.spawn("c-rbtree", "rbtree", 32)
    c_lookup.replay(kernel)
    assert c_lookup.pid is not None
    os.kill(c_lookup.pid, signal.SIGKILL)
    with pytest.raises(CComparatorError) as failed:
        c_lookup.time_lookups(np.arange(0, 1 << 20, 4096, dtype=np.uint64))
    assert (failed.value.stage, failed.value.detail) == ("lookup", "killed by SIGKILL")
    assert c_lookup.pid is None
    c_lookup.close()  # nothing left to end


# --------------------------------------------------------------------- command line
def tiny(out: Path, *extra: str) -> list[str]:
    return ["bench", "--cases", "100,1MB", "--runs", "2", "--lookups", "500", "--seed", "3",
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


def test_the_bench_measures_c_live_and_says_which(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(tiny(tmp_path)) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["c_reference"]["measured"] is True
    assert data["c_reference"]["caption"].startswith(OWN_C)
    for case in data["lookups"]:
        c_rbtree = case["implementations"]["c-rbtree"]
        assert c_rbtree["median_ns"] > 0
        assert case["implementations"]["fast-rbtree"]["c_ns"] == c_rbtree["median_ns"]
    assert OWN_C in (tmp_path / "report.md").read_text()


def test_without_a_compiler_the_bench_runs_and_says_so_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "/nonexistent")
    assert main(tiny(tmp_path)) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("C not measured: "), captured.err
    assert "/nonexistent" in lines[0] and "Traceback" not in captured.err
    assert "C not measured: " in captured.out  # the targets' caption
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["c_reference"]["measured"] is False
    assert all("c-rbtree" not in case["implementations"] for case in data["lookups"])
    assert lines[0] in (tmp_path / "report.md").read_text()


def test_a_tree_that_is_not_netbsd_is_one_line_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(tiny(tmp_path / "out", "--netbsd-src", str(empty))) == 0
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("C not measured: NetBSD's uvm_physseg.c: ")


@pytest.mark.skipif(
    not os.environ.get(NETBSD_SRC_ENV), reason=f"{NETBSD_SRC_ENV} names no NetBSD source tree"
)
def test_netbsd_c_stands_beside_both_builds(tmp_path: Path) -> None:
    tree = os.environ[NETBSD_SRC_ENV]
    assert main(tiny(tmp_path, "--netbsd-src", tree)) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["c_reference"]["caption"].startswith("NetBSD C uvm_physseg.c rev ")
    fixed = data["lookups"][0]["implementations"]
    assert fixed["c-static"]["median_ns"] > 0 and fixed["c-rbtree"]["median_ns"] > 0
