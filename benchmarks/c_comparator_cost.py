"""What the live C comparator adds to ``physseg bench``, case by case, side by side in one
process, run by hand.

    .venv/bin/python benchmarks/c_comparator_cost.py [--rounds 5] [--cases 1K,256MB,real-4GB]

For each case, rounds alternate between the quick profile's Python implementations alone and
the same with ``c-rbtree`` (physseg's own C, built before the first round): each is one
``run_lookup_case`` at the quick profile's sizes (15 runs, 100K lookups for the fragmented
and honest cases), timed in wall seconds. Prints per case the median seconds of each, the
median of the per-round ratios and what C's own lookups took (the part of the extra that is
C working, not the comparator's overhead: fork, layout, transfers).
"""

from __future__ import annotations

import argparse
import statistics
import time

from physseg.bench.ccompare import CSide
from physseg.bench.impls import IMPLS
from physseg.bench.runner import run_lookup_case
from physseg.bench.workloads import CASES, QUICK, LookupCase

SEED = 20170310


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cases", default="1K,256MB,real-4GB")
    args = parser.parse_args()
    cases = [CASES[name] for name in args.cases.split(",")]
    lookup_cases = [case for case in cases if isinstance(case, LookupCase)]
    side = CSide.prepare(None, [("rbtree", case.segments) for case in lookup_cases])
    if not side.reference.measured:
        raise SystemExit(side.reference.caption())
    python = [impl for impl in IMPLS.values() if not impl.in_c]
    with_c = [*python, IMPLS["c-rbtree"]]

    for case in lookup_cases:
        lookups = case.lookups if case.kind == "fixed" else QUICK.lookups
        seconds: dict[str, list[float]] = {"python": [], "with C": []}
        c_share: list[float] = []
        for _ in range(args.rounds):
            for label, impls in (("python", python), ("with C", with_c)):
                started = time.perf_counter()
                result = run_lookup_case(
                    case, impls, runs=QUICK.runs, lookups=lookups, seed=SEED, c_side=side
                )
                seconds[label].append(time.perf_counter() - started)
                if label == "with C":
                    c_share.append(sum(result.wall_times.get("c-rbtree", [0.0])))
        ratios = [c / p for p, c in zip(seconds["python"], seconds["with C"], strict=True)]
        alone, beside = (statistics.median(seconds[label]) for label in ("python", "with C"))
        print(
            f"{case.name:>9} ({case.segments:,} segs): python {alone:.2f} s, with C "
            f"{beside:.2f} s, ratio {statistics.median(ratios):.3f} (C's own lookups "
            f"{statistics.median(c_share):.3f} s)"
        )


if __name__ == "__main__":
    main()
