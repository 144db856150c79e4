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
