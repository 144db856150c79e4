"""physseg.bench.runner: timed runs side by side, RNG apart, mutations; and
physseg.bench.report / figures: targets, JSON, CSV, Markdown, tables and PNG files."""

from __future__ import annotations

import csv
import gc
import json
from pathlib import Path

import pytest
from rich.console import Console

from physseg.bench import report
from physseg.bench.figures import write_figures
from physseg.bench.impls import IMPLS
from physseg.bench.runner import (
    WARMUP_LOOKUPS,
    BenchResults,
    LookupResult,
    MutationResult,
    NullProgress,
    clock_overhead_ns,
    environment,
    run_cases,
    run_lookup_case,
    run_mutation_case,
)
from physseg.bench.workloads import CASES, QUICK, LookupCase, MutationCase, Profile

TINY = Profile("tiny", cases=("1K",), runs=2, lookups=3000, mutation_runs=2, mutation_ops=5)


class Recorder:
    """Progress that remembers what it was told."""

    def __init__(self) -> None:
        self.tasks: list[tuple[str, int]] = []
        self.steps = 0

    def start(self, description: str, total: int) -> None:
        self.tasks.append((description, total))

    def advance(self, steps: int) -> None:
        self.steps += steps


def lookup_case(name: str) -> LookupCase:
    case = CASES[name]
    assert isinstance(case, LookupCase)
    return case


def mutation_case(name: str) -> MutationCase:
    case = CASES[name]
    assert isinstance(case, MutationCase)
    return case


# --------------------------------------------------------------------- runner
def test_a_lookup_case_times_every_implementation_in_every_run() -> None:
    progress = Recorder()
    result = run_lookup_case(
        lookup_case("1K"), list(IMPLS.values()), runs=3, lookups=1000, seed=1, progress=progress
    )
    python = [name for name, impl in IMPLS.items() if not impl.in_c]
    assert result.impl_names() == python  # no C side given: no C implementation
    assert all(len(times) == 3 and min(times) > 0 for times in result.times.values())
    assert all(len(times) == 3 and min(times) > 0 for times in result.wall_times.values())
    assert len(result.rng_array) == len(result.rng_list) == 3
    assert set(result.build_s) == {"static-bsearch", "static-random", "rbtree"}
    assert set(result.warmup_s) == set(python)
    assert progress.steps == len(python) + 3 * 1000
    assert [total for _, total in progress.tasks] == [len(python) + 1, 3000]


def test_fragmented_cases_run_the_rbtree_implementations_only() -> None:
    result = run_lookup_case(lookup_case("1MB"), list(IMPLS.values()), runs=2, lookups=500, seed=1)
    assert result.impl_names() == ["rbtree", "fast-rbtree", "batch-rbtree"]


def test_statistics_of_a_lookup_result() -> None:
    result = run_lookup_case(
        lookup_case("100"), [IMPLS["fast-rbtree"]], runs=2, lookups=100, seed=2
    )
    s = result.seconds("fast-rbtree")
    ns = result.ns_per_lookup("fast-rbtree")
    assert ns.mean == pytest.approx(s.mean * 1e9 / 100)
    with_rng = result.seconds("fast-rbtree", with_rng=True)
    extra = [a + b for a, b in zip(result.rng_array, result.rng_list, strict=True)]
    assert with_rng.mean == pytest.approx(s.mean + sum(extra) / 2)
    assert result.rng_seconds("fast-rbtree").mean == pytest.approx(sum(extra) / 2)
    assert result.setup_s("fast-rbtree") >= 0.0


def test_batch_implementations_pay_only_the_array_rng() -> None:
    result = run_lookup_case(
        lookup_case("100"), [IMPLS["batch-rbtree"]], runs=2, lookups=100, seed=2
    )
    assert result.rng_seconds("batch-rbtree").mean == pytest.approx(sum(result.rng_array) / 2)


def test_a_lookup_case_needs_positive_counts_and_an_applicable_implementation() -> None:
    with pytest.raises(ValueError, match="positive"):
        run_lookup_case(lookup_case("1K"), [IMPLS["rbtree"]], runs=0, lookups=10, seed=1)
    with pytest.raises(ValueError, match="none of the implementations"):
        run_lookup_case(lookup_case("1MB"), [IMPLS["fast-static"]], runs=1, lookups=10, seed=1)


def test_a_mutation_case_times_plugs_and_unplugs() -> None:
    progress = Recorder()
    result = run_mutation_case(
        mutation_case("mutate-1K"), runs=3, ops=20, seed=1, progress=progress
    )
    assert result.ops == 20
    assert len(result.plug_us) == len(result.unplug_us) == 3
    assert min(result.plug_us) > 0 and min(result.unplug_us) > 0
    assert result.build_s > 0
    assert progress.steps == 1 + 3 * 20


def test_a_mutation_case_needs_positive_counts() -> None:
    with pytest.raises(ValueError, match="positive"):
        run_mutation_case(mutation_case("mutate-1K"), runs=1, ops=0, seed=1)


def test_run_cases_uses_the_profile_and_the_overrides() -> None:
    cases = [lookup_case("100"), lookup_case("1MB"), mutation_case("mutate-1K")]
    impls = [IMPLS["fast-rbtree"], IMPLS["batch-rbtree"]]
    results = run_cases(
        cases, impls, runs=None, lookups=None, ops=None, seed=3, profile=TINY, command="x"
    )
    fixed, fragmented = results.lookups
    assert (fixed.lookups, fixed.runs) == (100, 2)  # a fixed case does its own N
    assert (fragmented.lookups, fragmented.runs) == (3000, 2)
    assert (results.mutations[0].runs, results.mutations[0].ops) == (2, 5)
    assert results.elapsed_s > 0
    again = run_cases(
        cases[1:], impls, runs=1, lookups=200, ops=3, seed=3, profile=TINY, command="x"
    )
    assert (again.lookups[0].lookups, again.lookups[0].runs, again.mutations[0].ops) == (200, 1, 3)


def test_null_progress_and_environment() -> None:
    NullProgress().start("x", 1)
    NullProgress().advance(1)
    env = environment()
    assert env["python"].count(".") == 2
    assert int(env["cpus"]) >= 1
    assert len(env["load_average"].split()) == 3


def test_the_clock_overhead_is_small_and_not_negative() -> None:
    assert 0 <= clock_overhead_ns() < 100_000


# --------------------------------------------------------------------- report
def synthetic(name: str, impls: dict[str, list[float]], lookups: int = 1000) -> LookupResult:
    """A lookup result with chosen run times (seconds)."""
    runs = len(next(iter(impls.values())))
    result = LookupResult(
        lookup_case(name), lookups, runs, [IMPLS[i] for i in impls], times=dict(impls)
    )
    result.build_s = {"rbtree": 0.1}
    result.warmup_s = dict.fromkeys(impls, 0.5)
    result.rng_array = [0.001] * runs
    result.rng_list = [0.002] * runs
    return result


def mutation(name: str, plug: list[float], unplug: list[float]) -> MutationResult:
    return MutationResult(mutation_case(name), len(plug), 10, 0.5, plug, unplug)


def results(lookups: list[LookupResult], mutations: list[MutationResult]) -> BenchResults:
    return BenchResults("tiny", 1, "physseg bench", lookups, mutations, environment(), 1.0)


NS = 1e-9 * 1000  # seconds of 1000 lookups at 1 ns each


def test_targets_met() -> None:
    fixed = synthetic(
        "100K",
        {
            "fast-static": [150 * NS, 150 * NS],
            "fast-rbtree": [150 * NS, 151 * NS],
            "batch-static": [10 * NS, 10 * NS],
            "batch-rbtree": [10 * NS, 10 * NS],
            "c-static": [23 * NS, 23 * NS],
            "c-rbtree": [26 * NS, 26 * NS],
        },
    )
    frag = synthetic(
        "256MB",
        {
            "fast-rbtree": [500 * NS, 500 * NS],
            "batch-rbtree": [20 * NS, 20 * NS],
            "c-rbtree": [110 * NS, 110 * NS],
        },
    )
    muts = [
        mutation("mutate-1K", [20.0, 20.0], [10.0, 10.0]),
        mutation("mutate-1M", [30.0, 30.0], [15.0, 15.0]),
    ]
    targets = report.evaluate_targets(results([fixed, frag], muts))
    assert [t.verdict for t in targets] == ["met"] * 9
    assert "6.52 x C" in targets[0].measured


def test_targets_not_met_and_not_measured() -> None:
    fixed = synthetic(
        "100K",
        {
            "fast-static": [100 * NS, 100 * NS, 100 * NS],
            "fast-rbtree": [300 * NS, 301 * NS, 299 * NS],
            "batch-static": [30 * NS, 30 * NS, 30 * NS],
            "c-static": [23 * NS, 23 * NS, 23 * NS],
            "c-rbtree": [26 * NS, 26 * NS, 26 * NS],
        },
    )
    muts = [mutation("mutate-1K", [20.0], [10.0]), mutation("mutate-100K", [90.0], [12.0])]
    by_name = {t.name: t for t in report.evaluate_targets(results([fixed], muts))}
    assert by_name["per call, rbtree, 32 segs"].verdict == "not met"
    assert by_name["per call: rbtree no slower than static"].verdict == "not met"
    assert by_name["batch, static, 32 segs"].verdict == "not met"
    assert by_name["batch, rbtree, 32 segs"].verdict == "not measured"
    assert by_name["per call, rbtree, 8161 segs"].verdict == "not measured"
    assert by_name["plug: growth 10^3 -> 10^6 segments"].verdict == "not measured"
    assert "4.50 x" in by_name["plug: growth 10^3 -> 10^6 segments"].measured


def test_growth_not_met_and_missing_base() -> None:
    muts = [mutation("mutate-1K", [20.0], [10.0]), mutation("mutate-1M", [90.0], [12.0])]
    by_name = {t.name: t for t in report.evaluate_targets(results([], muts))}
    assert by_name["plug: growth 10^3 -> 10^6 segments"].verdict == "not met"
    assert by_name["unplug: growth 10^3 -> 10^6 segments"].verdict == "met"
    lonely = report.evaluate_targets(results([], [mutation("mutate-10K", [1.0], [1.0])]))
    assert lonely[-1].verdict == "not measured"
    assert by_name["per call: rbtree no slower than static"].verdict == "not measured"


def test_an_implementation_is_held_against_the_median_c_run_of_its_backend() -> None:
    fixed = synthetic(
        "100K",
        {
            "fast-rbtree": [60 * NS, 60 * NS, 60 * NS],
            "c-rbtree": [26 * NS, 90 * NS, 25 * NS],  # one run preempted: the median ignores it
            "c-static": [23 * NS, 22 * NS, 24 * NS],
        },
    )
    assert report.c_ns(fixed, "fast-rbtree") == pytest.approx(26.0)
    assert report.c_ns(fixed, "batch-rbtree") == pytest.approx(26.0)
    assert report.c_ns(fixed, "static-bsearch") == pytest.approx(23.0)
    assert report.c_ns(fixed, "c-rbtree") is None
    assert report.median_ns(fixed, "c-rbtree") == pytest.approx(26.0)
    without_c = synthetic("100K", {"fast-rbtree": [60 * NS, 60 * NS]})
    assert report.c_ns(without_c, "fast-rbtree") is None


def test_a_target_without_its_c_is_not_measured() -> None:
    fixed = synthetic("100K", {"fast-static": [60 * NS, 60 * NS], "c-rbtree": [26 * NS] * 2})
    by_name = {t.name: t for t in report.evaluate_targets(results([fixed], []))}
    static = by_name["per call, static, 32 segs"]
    assert (static.verdict, static.measured) == ("not measured", "60.0 ± 0.0 ns; C not measured")


def full_results() -> BenchResults:
    fixed = synthetic(
        "100K",
        {impl: [(i + 1) * 100 * NS, (i + 1) * 110 * NS] for i, impl in enumerate(IMPLS)},
    )
    frag = synthetic(
        "256MB", {"rbtree": [4000 * NS, 4100 * NS], "fast-rbtree": [400 * NS, 410 * NS]}
    )
    honest = synthetic("real-64MB", {"rbtree": [3000 * NS, 3100 * NS]}, lookups=10**6)
    muts = [
        mutation("mutate-1K", [20.0, 22.0], [10.0, 11.0]),
        mutation("mutate-10K", [25.0, 24.0], [12.0, 11.0]),
    ]
    return results([fixed, frag, honest], muts)


def test_json_holds_the_raw_samples_and_their_statistics(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    report.write_json(full_results(), path)
    data = json.loads(path.read_text())
    fixed = data["lookups"][0]
    assert fixed["case"] == "100K" and fixed["segments"] == 32
    rb = fixed["implementations"]["rbtree"]
    assert rb["seconds"] == [300 * NS, 330 * NS]
    assert rb["stats_s"]["mean"] == pytest.approx(315 * NS)
    assert rb["ns_per_lookup"]["mean"] == pytest.approx(315)
    c_rbtree = (IMPLS["c-rbtree"], list(IMPLS).index("c-rbtree") + 1)
    assert c_rbtree[0].in_c
    assert rb["c_ns"] == pytest.approx(c_rbtree[1] * 105)  # the median of its two runs
    assert rb["x_c"] == pytest.approx(315 / (c_rbtree[1] * 105))
    assert data["c_reference"]["caption"].startswith("C not measured")
    assert fixed["percent_rbtree_vs_static"]["kernel search"] == pytest.approx(200.0)
    assert data["mutations"][0]["plug_stats_us"]["mean"] == 21.0
    assert len(data["targets"]) == 9


def test_csv_has_a_row_per_case_and_implementation(tmp_path: Path) -> None:
    path = tmp_path / "results.csv"
    report.write_csv(full_results(), path)
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(IMPLS) + 2 + 1 + 4
    first = rows[0]
    assert (first["case"], first["implementation"], first["runs"]) == (
        "100K",
        "static-bsearch",
        "2",
    )
    assert float(first["ns_per_op"]) == pytest.approx(105.0)
    plug = next(r for r in rows if r["implementation"] == "plug")
    assert float(plug["ns_per_op"]) == pytest.approx(21000.0)


def test_markdown_report_has_the_papers_tables(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    report.write_markdown(full_results(), path, [tmp_path / "figure1_distribution.png"])
    text = path.read_text()
    assert "## Targets" in text
    assert "## Case 100K (fixed, 32 segments, 1,000 lookups x 2 runs)" in text
    assert "| rbtree |" in text
    assert "kernel search +200.00%" in text
    assert "## Plug and unplug" in text
    assert "![figure1_distribution](figure1_distribution.png)" in text


def test_console_tables_render() -> None:
    console = Console(width=200, record=True, color_system=None)
    for table in report.console_tables(full_results()):
        console.print(table)
    text = console.export_text()
    assert "ns per lookup" in text and "targets" in text and "mutate-10K" in text
    assert "1K x 2" in text


def test_figures_are_written(tmp_path: Path) -> None:
    paths = write_figures(full_results(), tmp_path)
    assert [p.name for p in paths] == [
        "figure1_distribution.png",
        "figure2_fragmentation.png",
        "figure3_cost_vs_segments.png",
        "figure4_mutation.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in paths)


def test_write_outputs_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "dir"
    written = report.write_outputs(full_results(), out)
    names = sorted(p.name for p in written)
    assert names[:3] == [
        "figure1_distribution.png",
        "figure2_fragmentation.png",
        "figure3_cost_vs_segments.png",
    ]
    assert {"results.json", "results.csv", "report.md"} <= set(names)
    assert all(p.exists() for p in written)


def test_warmup_constant_is_used_for_setup() -> None:
    result = synthetic("100", {"fast-rbtree": [1e-6, 1e-6]}, lookups=100)
    result.warmup_s["fast-rbtree"] = WARMUP_LOOKUPS * 1e-8 + 0.25
    assert result.setup_s("fast-rbtree") == pytest.approx(0.25)
    assert QUICK.runs >= 10


def test_only_mutations_draw_only_the_mutation_figure(tmp_path: Path) -> None:
    only = results([], [mutation("mutate-1K", [20.0], [10.0])])
    assert [p.name for p in write_figures(only, tmp_path)] == ["figure4_mutation.png"]
    console = Console(width=200, record=True, color_system=None)
    for table in report.console_tables(results([], [])):
        console.print(table)
    assert "ns per lookup" not in console.export_text()


def test_figure3_keeps_the_biggest_case_of_a_segment_count(tmp_path: Path) -> None:
    big = synthetic("1MB", {"rbtree": [800 * NS, 810 * NS]}, lookups=10**6)
    small = synthetic("64MB", {"rbtree": [900 * NS, 910 * NS]}, lookups=1000)
    paths = write_figures(results([big, small], []), tmp_path)
    assert [p.name for p in paths] == ["figure2_fragmentation.png", "figure3_cost_vs_segments.png"]


def test_timing_leaves_a_disabled_garbage_collector_disabled() -> None:
    gc.disable()
    try:
        run_lookup_case(lookup_case("100"), [IMPLS["fast-rbtree"]], runs=1, lookups=10, seed=1)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_markdown_without_figures_or_mutations(tmp_path: Path) -> None:
    path = tmp_path / "report.md"
    report.write_markdown(results([synthetic("1K", {"rbtree": [1e-6]})], []), path, [])
    text = path.read_text()
    assert "## Case 1K" in text
    assert "## Figures" not in text and "## Plug and unplug" not in text


def test_one_run_cannot_tell_whether_the_rbtree_is_slower() -> None:
    fixed = synthetic("100K", {"fast-static": [100 * NS], "fast-rbtree": [101 * NS]})
    by_name = {t.name: t for t in report.evaluate_targets(results([fixed], []))}
    verdict = by_name["per call: rbtree no slower than static"]
    assert verdict.verdict == "not measured"
    assert "one run" in verdict.measured
