"""Schedules, the workload, timeline recording, the report files and ``physseg simulate``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from physseg import InvalidArgumentError, PhysMem
from physseg.cli import main
from physseg.pagealloc import PageAllocator
from physseg.simulate import (
    ConstantSchedule,
    LookupProbe,
    Refusal,
    Sample,
    SimResult,
    StepSchedule,
    TraceSchedule,
    Workload,
    load_trace,
    random_steps,
)
from physseg.simulate.report import format_summary, write_outputs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# ----------------------------------------------------------------- schedules
def test_constant_and_step_schedules() -> None:
    assert ConstantSchedule(5).target_kib(99) == 5
    steps = StepSchedule(((0, 10), (3, 20), (7, 5)))
    assert [steps.target_kib(s) for s in (0, 2, 3, 6, 7, 100)] == [10, 10, 20, 20, 5, 5]


@pytest.mark.parametrize("points", [(), ((1, 10),), ((0, 1), (0, 2)), ((0, 1), (5, 2), (3, 3))])
def test_step_schedule_points_start_at_zero_and_increase(
    points: tuple[tuple[int, int], ...],
) -> None:
    with pytest.raises(InvalidArgumentError, match="start at step 0"):
        StepSchedule(points)


def test_trace_holds_its_last_value() -> None:
    trace = TraceSchedule((1, 2, 3))
    assert [trace.target_kib(s) for s in range(5)] == [1, 2, 3, 3, 3]
    with pytest.raises(InvalidArgumentError, match="at least one"):
        TraceSchedule(())


def test_load_trace_skips_blanks_and_comments(tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text("# target KiB\n262144\n\n270000  # grow\n")
    assert load_trace(path).values == (262144, 270000)


@pytest.mark.parametrize(
    ("text", "error"), [("12\nabc\n", "2: not an integer"), ("-4\n", "1: neg")]
)
def test_load_trace_names_the_bad_line(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "trace.txt"
    path.write_text(text)
    with pytest.raises(InvalidArgumentError, match=error):
        load_trace(path)


def test_random_steps_alternate_around_the_pivot_in_quanta() -> None:
    schedule = random_steps(
        np.random.default_rng(0), 300, (100, 900), start_kib=500, pivot_kib=400, quantum_kib=10
    )
    levels = [kib for _, kib in schedule.points]
    assert levels[0] == 500 and len(levels) > 5
    assert all(400 <= kib <= 900 for kib in levels[1::2])
    assert all(100 <= kib <= 400 for kib in levels[2::2])
    assert all(kib % 10 == 0 for kib in levels[1:])
    again = random_steps(
        np.random.default_rng(0), 300, (100, 900), start_kib=500, pivot_kib=400, quantum_kib=10
    )
    assert again == schedule


@pytest.mark.parametrize(
    ("levels", "pivot", "hold", "quantum"),
    [
        ((5, 1), None, (1, 2), 1),
        ((1, 5), 9, (1, 2), 1),
        ((1, 5), None, (0, 2), 1),
        ((1, 5), None, (1, 2), 0),
    ],
)
def test_random_steps_validate_their_bounds(
    levels: tuple[int, int], pivot: int | None, hold: tuple[int, int], quantum: int
) -> None:
    with pytest.raises(InvalidArgumentError, match="random_steps"):
        random_steps(
            np.random.default_rng(0),
            10,
            levels,
            start_kib=1,
            pivot_kib=pivot,
            hold=hold,
            quantum_kib=quantum,
        )


# ----------------------------------------------------------------- the workload
def booted() -> PhysMem:
    mem = PhysMem()
    mem.load(0x100, 0x1100)
    mem.boot(steal=False)
    return mem


def test_workload_moves_toward_its_demand_and_churns() -> None:
    pages = PageAllocator(booted())
    workload = Workload(pages, np.random.default_rng(1), demand=(0.5, 0.5), churn=0.1)
    workload.step(pages.usage().free)
    assert workload.held.size == 0x800
    first = set(workload.held.tolist())
    workload.step(pages.usage().free)
    assert workload.held.size == 0x800 and set(workload.held.tolist()) != first
    assert sorted(workload.held.tolist()) == pages.busy_pfns().tolist()


def test_workload_gives_pages_back_when_its_demand_drops() -> None:
    pages = PageAllocator(booted())
    workload = Workload(pages, np.random.default_rng(1), demand=(0.5, 0.5), churn=0.0)
    workload.step(pages.usage().free)
    workload.demand = (0.25, 0.25)
    workload.step(pages.usage().free)
    assert workload.held.size == 0x400 == pages.usage().busy


def test_workload_demand_must_be_fractions() -> None:
    with pytest.raises(ValueError, match="fractions"):
        Workload(PageAllocator(booted()), np.random.default_rng(1), demand=(0.6, 0.5))


# ----------------------------------------------------------------- timeline
def sample(step: int, segments: int, refusals: int = 0, target: int = 256) -> Sample:
    return Sample(step, target, 256, 300, 100, 50, segments, 100.0 + step, 3, 1, refusals, "")


def result(policy: str, segments: list[int], target: int = 256) -> SimResult:
    run = SimResult("balloon", policy, 1, {"boot_mib": 1})
    for step, count in enumerate(segments):
        run.timeline.append(sample(step, count, refusals=step, target=target))
    run.refusals.append(Refusal(1, 0x123, 1, "unplug [0x123, 0x124): page 0x123 is allocated"))
    run.events.append((1, "safe unplug refused"))
    return run


def test_timeline_columns_and_summary() -> None:
    run = result("plain", [2, 9, 4])
    assert run.timeline.column("segments").tolist() == [2, 9, 4]
    with pytest.raises(KeyError):
        run.timeline.column("event")
    summary = run.summary(4096)
    assert summary["max_segments"] == 9 and summary["final_segments"] == 4
    assert summary["reached_target"] is True and summary["final_current_mib"] == 1.0
    assert summary["refusals"] == 1 and summary["last_event"] == "safe unplug refused"
    with pytest.raises(ValueError, match="empty timeline"):
        SimResult("balloon", "plain", 1, {}).summary(4096)


def test_lookup_probe_times_lookups_on_managed_pages() -> None:
    mem = booted()
    probe = LookupProbe(np.random.default_rng(0), probes=50, repeats=2)
    assert probe.measure(mem.kernel) > 0
    assert LookupProbe(np.random.default_rng(0), probes=0).measure(mem.kernel) == 0.0
    assert probe.measure(PhysMem().kernel) == 0.0


# ----------------------------------------------------------------- report files
def test_format_summary_has_a_column_per_policy_and_the_first_refusal() -> None:
    text = format_summary([result("coalesce", [2, 3]), result("plain", [2, 300])], 4096)
    lines = text.splitlines()
    assert lines[0].split() == ["coalesce", "plain"]
    assert any(line.split()[-2:] == ["3", "300"] for line in lines if "at most" in line)
    assert "coalesce: first refusal at step 1: unplug [0x123, 0x124)" in text
    assert "plain: last event at step 1: safe unplug refused" in text


def test_write_outputs_writes_png_csv_and_json(tmp_path: Path) -> None:
    runs = [result("coalesce", [2, 3, 3]), result("plain", [2, 90, 180])]
    paths = write_outputs(runs, 4096, tmp_path / "out", "physseg simulate balloon")
    assert [p.name for p in paths] == [
        "balloon-coalesce.csv",
        "balloon-plain.csv",
        "balloon.json",
        "balloon.png",
    ]
    assert paths[3].read_bytes().startswith(PNG_MAGIC)
    with paths[1].open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["segments"] for row in rows] == ["2", "90", "180"]
    document = json.loads(paths[2].read_text())
    assert document["command"] == "physseg simulate balloon"
    assert [run["policy"] for run in document["runs"]] == ["coalesce", "plain"]
    assert document["runs"][1]["refusals_total"] == 1
    assert len(document["runs"][1]["timeline"]) == 3


def test_plot_draws_one_target_per_run_when_the_targets_differ(tmp_path: Path) -> None:
    runs = [result("coalesce", [2, 3], target=256), result("plain", [2, 3], target=512)]
    paths = write_outputs(runs, 4096, tmp_path, "x")
    assert paths[-1].read_bytes().startswith(PNG_MAGIC)
    with pytest.raises(ValueError, match="no results"):
        write_outputs([], 4096, tmp_path, "x")


# ----------------------------------------------------------------- the command
def test_simulate_balloon_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "balloon", "--steps", "3", "--out", str(tmp_path), "--boot-mib", "64"]
    assert main([*argv, "--max-mib", "72"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["coalesce", "plain"]
    assert f"wrote {tmp_path / 'balloon.png'}" in out
    document = json.loads((tmp_path / "balloon.json").read_text())
    assert document["command"] == "physseg simulate balloon --steps 3 --seed 1"


def test_simulate_one_policy_from_a_trace_without_workload(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("65536\n67584\n")
    argv = ["simulate", "balloon", "--steps", "2", "--out", str(tmp_path), "--boot-mib", "64"]
    assert main([*argv, "--no-coalesce", "--trace", str(trace), "--no-workload"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split() == ["plain"]
    assert not (tmp_path / "balloon-coalesce.csv").exists()
    command = json.loads((tmp_path / "balloon.json").read_text())["command"]
    assert command.endswith(f"--no-coalesce --trace {trace} --no-workload")


def test_simulate_virtio_mem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "virtio-mem", "--steps", "2", "--seed", "0x2", "--out", str(tmp_path)]
    sizes = ["--boot-mib", "160", "--region-mib", "128", "--block-mib", "4"]
    assert main([*argv, *sizes, "--coalesce"]) == 0
    assert "wrote" in capsys.readouterr().out
    assert (tmp_path / "virtio-mem-coalesce.csv").exists()
    assert json.loads((tmp_path / "virtio-mem.json").read_text())["runs"][0]["seed"] == 2


@pytest.mark.parametrize(
    "extra",
    [["--steps", "0"], ["--steps", "x"], ["--seed=-1"], ["--seed", "y"], ["--coalesce", "1"]],
)
def test_simulate_usage_errors_exit_2(extra: list[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["simulate", "balloon", "--out", str(tmp_path), *extra])
    assert caught.value.code == 2


def test_simulate_bad_input_exits_1_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.txt"
    trace.write_text("lots\n")
    assert main(["simulate", "balloon", "--trace", str(trace), "--out", str(tmp_path)]) == 1
    assert "not an integer KiB value" in capsys.readouterr().err
    assert main(["simulate", "virtio-mem", "--block-mib", "3", "--out", str(tmp_path)]) == 1
    assert "must divide" in capsys.readouterr().err
