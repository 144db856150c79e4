"""``physseg bench`` end to end through ``physseg.cli.main``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from physseg.cli import main
from physseg.cli.commands.bench import positive_int


def test_a_tiny_profile_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results"
    status = main(
        [
            "bench",
            "--cases",
            "1K,1MB,mutate-1K",
            "--runs",
            "2",
            "--lookups",
            "2000",
            "--ops",
            "10",
            "--seed",
            "5",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert status == 0
    printed = capsys.readouterr().out
    assert "quick profile, 3 cases (1K, 1MB, mutate-1K), seed 5" in printed
    assert "ns per lookup" in printed and "targets" in printed
    for name in ("results.json", "results.csv", "report.md", "figure1_distribution.png"):
        assert (out / name).exists(), name
    data = json.loads((out / "results.json").read_text())
    assert data["command"].startswith("physseg bench --cases 1K,1MB,mutate-1K --runs 2")
    assert [case["case"] for case in data["lookups"]] == ["1K", "1MB"]
    assert data["lookups"][0]["runs"] == 2 and data["lookups"][1]["lookups"] == 2000


def test_the_paper_profile_and_implementation_selection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["bench", "--paper", "--cases", "100", "--impls", "fast-rbtree", "--runs", "3",
         "--out", str(tmp_path)]
    )  # fmt: skip
    assert status == 0
    assert "paper profile" in capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["profile"] == "paper"
    assert list(data["lookups"][0]["implementations"]) == ["fast-rbtree"]


def test_an_unknown_case_is_an_operational_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--cases", "2M", "--out", str(tmp_path)]) == 1
    assert "unknown case '2M'" in capsys.readouterr().err


def test_an_unknown_implementation_is_an_operational_error(tmp_path: Path) -> None:
    assert main(["bench", "--impls", "splay", "--out", str(tmp_path)]) == 1


def test_a_bad_count_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--runs", "0"])
    assert exited.value.code == 2
    assert "whole number" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "count"), [("7", 7), ("10_000", 10_000), ("1e6", 10**6), ("10M", 10**7), ("2k", 2000)]
)
def test_positive_int_accepts_counts(text: str, count: int) -> None:
    assert positive_int(text) == count


@pytest.mark.parametrize("text", ["0", "-3", "1.5", "ten", "1e-3", ""])
def test_positive_int_rejects_the_rest(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(text)


def _tiny(out: Path, *extra: str) -> list[str]:
    return ["bench", "--cases", "1K,1MB", "--runs", "2", "--lookups", "500", "--seed", "5",
            "--out", str(out), "--no-progress", *extra]  # fmt: skip


def test_the_tables_fit_80_columns_and_keep_every_figure_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_tiny(tmp_path / "narrow")) == 0
    narrow = capsys.readouterr().out
    assert max(map(len, narrow.splitlines())) <= 80
    data = json.loads((tmp_path / "narrow" / "results.json").read_text())
    implementations = data["lookups"][0]["implementations"]
    assert len(implementations) >= 6  # enough columns that one table could not fit 80
    assert narrow.count("ns per lookup") >= 2  # so the lookup table was split
    for case in data["lookups"]:
        for stats in case["implementations"].values():
            # every cell's mean is printed on one line, not wrapped inside its column
            assert f"{stats['ns_per_lookup']['mean']:,.1f} ±" in narrow
    assert "physseg's own C implementation of the ABI, not NetBSD's code" in narrow


def test_wide_keeps_one_table_with_every_implementation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_tiny(tmp_path, "--wide")) == 0
    wide = capsys.readouterr().out
    assert wide.count("ns per lookup") == 1
    assert max(map(len, wide.splitlines())) > 80


def test_json_is_one_document_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_tiny(tmp_path, "--json")) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["c_reference"]["measured"] is True
    assert "measured live in this run" in document["c_reference"]["caption"]
    assert {Path(name).name for name in document["files"]} >= {"results.json", "report.md"}
    assert [case["case"] for case in document["lookups"]] == ["1K", "1MB"]
    assert "quick profile" in captured.err
