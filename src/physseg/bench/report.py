"""What ``physseg bench`` writes: the targets verdicts, ``results.json``, ``results.csv``,
``report.md`` and the rich tables printed on screen.

The C figures the targets are held against are the ``c-*`` implementations of the same run
(:mod:`physseg.bench.ccompare`): an implementation is held against the median of the C runs of
its backend in the same case; :class:`~physseg.bench.reference.CReference` says which C.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from rich.table import Table

from physseg.bench.reference import PER_CALL_FACTOR
from physseg.bench.runner import BenchResults, LookupResult, MutationResult
from physseg.bench.stats import Summary, percent_difference, summarize

__all__ = [
    "Target",
    "c_ns",
    "console_tables",
    "evaluate_targets",
    "median_ns",
    "results_dict",
    "write_csv",
    "write_json",
    "write_markdown",
    "write_outputs",
]

GROWTH_LIMIT: Final = 2.0
"""The mutation target: per-operation time grows at most this much from 10^3 to 10^6."""
BACKEND_PAIRS: Final = (
    ("kernel search", "static-bsearch", "rbtree"),
    ("physseg per call", "fast-static", "fast-rbtree"),
    ("physseg batch", "batch-static", "batch-rbtree"),
)
"""(label, static implementation, rbtree implementation) compared in percent."""


def median_ns(result: LookupResult, impl: str) -> float:
    """The median over ``result``'s runs of ``impl``'s nanoseconds per lookup. O(runs).
    Raises ``KeyError`` when ``impl`` did not run."""
    return statistics.median(t * 1e9 / result.lookups for t in result.times[impl])


def c_ns(result: LookupResult, impl: str) -> float | None:
    """The C figure ``impl`` is held against in ``result``: the median nanoseconds per lookup
    of the C implementation of its backend (``c-rbtree`` for ``*rbtree``, else ``c-static``)
    in the same case; ``None`` for a C implementation or when that C did not run. O(runs).
    Raises nothing."""
    if impl.startswith("c-"):
        return None
    c_impl = "c-rbtree" if impl.endswith("rbtree") else "c-static"
    return median_ns(result, c_impl) if c_impl in result.times else None


@dataclass(frozen=True, slots=True)
class Target:
    """One of the issue's speed targets and what this run measured for it."""

    name: str
    requirement: str
    measured: str
    verdict: str
    """``met``, ``not met`` or ``not measured``."""


def _largest(results: Iterable[LookupResult], kind: str, impl: str) -> LookupResult | None:
    found = [r for r in results if r.case.kind == kind and impl in r.times]
    return max(found, key=lambda r: r.lookups * r.runs, default=None)


def _with_segments(
    results: Iterable[LookupResult], segments: int, impl: str
) -> LookupResult | None:
    found = [r for r in results if r.case.segments == segments and impl in r.times]
    return max(found, key=lambda r: r.lookups * r.runs, default=None)


def _ns(result: LookupResult, impl: str) -> Summary:
    return result.ns_per_lookup(impl)


def _speed_target(
    results: list[LookupResult], impl: str, segments: int, factor: float, name: str
) -> Target:
    if segments == 32:
        kind, result = "fixed", _largest(results, "fixed", impl)
    else:
        kind, result = "fragmented", _with_segments(results, segments, impl)
    requirement = f"<= {'' if factor == 1 else f'{factor:g} x '}C (same case, same run)"
    if result is None:
        return Target(name, requirement, f"no {kind} case with {segments} segments", "not measured")
    ns = _ns(result, impl)
    measured = f"{ns.mean:.1f} ± {ns.margin:.1f} ns"
    c = c_ns(result, impl)
    if c is None:
        return Target(name, requirement, f"{measured}; C not measured", "not measured")
    measured += f" = {ns.mean / c:.2f} x C {c:.1f} ns ({result.case.name})"
    return Target(name, requirement, measured, "met" if ns.mean <= c * factor else "not met")


def evaluate_targets(results: BenchResults) -> list[Target]:
    """The issue's targets, each with what was measured and a verdict."""
    lookups = results.lookups
    targets = [
        _speed_target(lookups, "fast-static", 32, PER_CALL_FACTOR, "per call, static, 32 segs"),
        _speed_target(lookups, "fast-rbtree", 32, PER_CALL_FACTOR, "per call, rbtree, 32 segs"),
        _speed_target(lookups, "fast-rbtree", 8161, PER_CALL_FACTOR, "per call, rbtree, 8161 segs"),
        _gap_target(lookups),
        _speed_target(lookups, "batch-static", 32, 1.0, "batch, static, 32 segs"),
        _speed_target(lookups, "batch-rbtree", 32, 1.0, "batch, rbtree, 32 segs"),
        _speed_target(lookups, "batch-rbtree", 8161, 1.0, "batch, rbtree, 8161 segs"),
    ]
    targets.extend(_growth_targets(results.mutations))
    return targets


def _gap_target(results: list[LookupResult]) -> Target:
    name = "per call: rbtree no slower than static"
    requirement = "rbtree - static <= 95% margin of the difference"
    result = next(
        (
            r
            for r in sorted(results, key=lambda r: -r.lookups * r.runs)
            if r.case.kind == "fixed" and "fast-rbtree" in r.times and "fast-static" in r.times
        ),
        None,
    )
    if result is None:
        return Target(name, requirement, "fast-static and fast-rbtree not both run", "not measured")
    rb = _ns(result, "fast-rbtree")
    st = _ns(result, "fast-static")
    noise = math.hypot(rb.margin, st.margin)
    diff = percent_difference(st.mean, rb.mean)
    measured = f"{diff:+.2f}% ({rb.mean - st.mean:+.1f} ± {noise:.1f} ns, {result.case.name})"
    if result.runs < 2:
        return Target(name, requirement, measured + "; one run has no margin", "not measured")
    return Target(name, requirement, measured, "met" if rb.mean - st.mean <= noise else "not met")


def _growth_targets(mutations: list[MutationResult]) -> list[Target]:
    targets = []
    ordered = sorted(mutations, key=lambda m: m.case.segments)
    for op in ("plug", "unplug"):
        name = f"{op}: growth 10^3 -> 10^6 segments"
        requirement = f"<= {GROWTH_LIMIT:g} x"
        base = next((m for m in ordered if m.case.segments == 10**3), None)
        if base is None or len(ordered) < 2:
            targets.append(
                Target(name, requirement, "needs mutate-1K and a larger case", "not measured")
            )
            continue
        top = ordered[-1]
        low = summarize(getattr(base, f"{op}_us")).mean
        high = summarize(getattr(top, f"{op}_us")).mean
        growth = high / low
        measured = f"{low:.1f} -> {high:.1f} µs = {growth:.2f} x (to {top.case.segments:,} segs)"
        if top.case.segments < 10**6:
            verdict = "not measured"
            measured += "; run mutate-1M for the target"
        else:
            verdict = "met" if growth <= GROWTH_LIMIT else "not met"
        targets.append(Target(name, requirement, measured, verdict))
    return targets


# --------------------------------------------------------------------- files
def _summary_dict(summary: Summary) -> dict[str, float | int]:
    return summary.as_dict()


def results_dict(results: BenchResults) -> dict[str, Any]:
    """Everything measured, JSON-ready: raw per-run samples and their statistics."""
    lookups = []
    for r in results.lookups:
        impls = {}
        for impl in r.impl_names():
            c = c_ns(r, impl)
            ns = r.ns_per_lookup(impl)
            impls[impl] = {
                "seconds": r.times[impl],
                "wall_seconds": r.wall_times.get(impl, []),
                "stats_s": _summary_dict(r.seconds(impl)),
                "stats_with_rng_s": _summary_dict(r.seconds(impl, with_rng=True)),
                "ns_per_lookup": _summary_dict(ns),
                "ns_per_lookup_with_rng": _summary_dict(r.ns_per_lookup(impl, with_rng=True)),
                "warmup_s": r.warmup_s[impl],
                "setup_s": r.setup_s(impl),
                "median_ns": median_ns(r, impl),
                "c_ns": c,
                "x_c": None if c is None else ns.mean / c,
            }
        lookups.append(
            {
                "case": r.case.name,
                "kind": r.case.kind,
                "segments": r.case.segments,
                "lookups": r.lookups,
                "runs": r.runs,
                "note": r.case.note,
                "build_s": r.build_s,
                "rng_array_s": r.rng_array,
                "rng_list_s": r.rng_list,
                "implementations": impls,
                "c_failures": r.c_failures,
                "percent_rbtree_vs_static": _pairs(r),
            }
        )
    mutations = [
        {
            "case": m.case.name,
            "segments": m.case.segments,
            "runs": m.runs,
            "ops_per_run": m.ops,
            "build_s": m.build_s,
            "plug_us": m.plug_us,
            "unplug_us": m.unplug_us,
            "plug_stats_us": _summary_dict(summarize(m.plug_us)),
            "unplug_stats_us": _summary_dict(summarize(m.unplug_us)),
        }
        for m in results.mutations
    ]
    return {
        "profile": results.profile,
        "seed": results.seed,
        "command": results.command,
        "elapsed_s": results.elapsed_s,
        "environment": results.environment,
        "c_reference": results.c_reference.as_dict(),
        "targets": [
            {
                "name": t.name,
                "requirement": t.requirement,
                "measured": t.measured,
                "verdict": t.verdict,
            }
            for t in evaluate_targets(results)
        ],
        "lookups": lookups,
        "mutations": mutations,
    }


def _pairs(result: LookupResult) -> dict[str, float]:
    pairs = {}
    for label, static, rbtree in BACKEND_PAIRS:
        if static in result.times and rbtree in result.times:
            pairs[label] = percent_difference(
                result.seconds(static).mean, result.seconds(rbtree).mean
            )
    return pairs


def write_json(results: BenchResults, path: Path) -> None:
    """Write ``results.json``."""
    path.write_text(json.dumps(results_dict(results), indent=2) + "\n", encoding="utf-8")


CSV_FIELDS: Final = (
    "case",
    "kind",
    "segments",
    "implementation",
    "ops_per_run",
    "runs",
    "mean_s",
    "min_s",
    "max_s",
    "pstdev_s",
    "margin95_s",
    "mean_with_rng_s",
    "ns_per_op",
    "ns_per_op_margin95",
    "ns_per_op_with_rng",
    "c_ns",
    "x_c",
    "setup_s",
)


def _csv_rows(results: BenchResults) -> Iterable[dict[str, Any]]:
    for r in results.lookups:
        for impl in r.impl_names():
            s = r.seconds(impl)
            ns = r.ns_per_lookup(impl)
            c = c_ns(r, impl)
            yield {
                "case": r.case.name,
                "kind": r.case.kind,
                "segments": r.case.segments,
                "implementation": impl,
                "ops_per_run": r.lookups,
                "runs": r.runs,
                "mean_s": s.mean,
                "min_s": s.minimum,
                "max_s": s.maximum,
                "pstdev_s": s.pstdev,
                "margin95_s": s.margin,
                "mean_with_rng_s": r.seconds(impl, with_rng=True).mean,
                "ns_per_op": ns.mean,
                "ns_per_op_margin95": ns.margin,
                "ns_per_op_with_rng": r.ns_per_lookup(impl, with_rng=True).mean,
                "c_ns": "" if c is None else c,
                "x_c": "" if c is None else ns.mean / c,
                "setup_s": r.setup_s(impl),
            }
    for m in results.mutations:
        for op in ("plug", "unplug"):
            per_op_us = getattr(m, f"{op}_us")
            s = summarize([us * m.ops / 1e6 for us in per_op_us])
            ns = summarize([us * 1000 for us in per_op_us])
            yield {
                "case": m.case.name,
                "kind": "mutation",
                "segments": m.case.segments,
                "implementation": op,
                "ops_per_run": m.ops,
                "runs": m.runs,
                "mean_s": s.mean,
                "min_s": s.minimum,
                "max_s": s.maximum,
                "pstdev_s": s.pstdev,
                "margin95_s": s.margin,
                "mean_with_rng_s": "",
                "ns_per_op": ns.mean,
                "ns_per_op_margin95": ns.margin,
                "ns_per_op_with_rng": "",
                "c_ns": "",
                "x_c": "",
                "setup_s": m.build_s,
            }


def write_csv(results: BenchResults, path: Path) -> None:
    """Write ``results.csv``: one row per (case, implementation) or (case, plug/unplug)."""
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(_csv_rows(results))


def _fmt_s(value: float) -> str:
    return f"{value:.6f}" if value < 10 else f"{value:.3f}"


def write_markdown(results: BenchResults, path: Path, figures: list[Path]) -> None:
    """Write ``report.md``: targets, the paper-style tables per case, backend differences, RNG
    cost, mutations and the figures."""
    env = results.environment
    lines = [
        f"# physseg bench: {results.profile} profile",
        "",
        f"`{results.command}` (seed {results.seed}), {results.elapsed_s:.0f} s on "
        f"{env.get('platform', '?')}, {env.get('cpus', '?')} CPUs, "
        f"{env.get('implementation', 'Python')} {env.get('python', '?')}, "
        f"numpy {env.get('numpy', '?')}; load average {env.get('load_average', '?')} before, "
        f"{env.get('load_average_after', '?')} after.",
        "",
        "Times are CPU seconds of the benchmark thread per run of N lookups (addresses generated "
        "in advance) unless said; wall times are in results.json; "
        "std dev is the population standard deviation, ±95% the margin of error of the mean "
        "(Student's t). The `c-*` rows are C, timed in C over the same addresses in the same "
        "runs (the lesser of C's monotonic clock and the child's CPU time around the call); "
        "x C divides a mean by the median of the C runs of its backend in the same case. "
        f"C: {results.c_reference.caption()}.",
        "",
        "## Targets",
        "",
        "| target | requirement | measured | verdict |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {t.name} | {t.requirement} | {t.measured} | **{t.verdict}** |"
        for t in evaluate_targets(results)
    ]
    for r in results.lookups:
        lines += [
            "",
            f"## Case {r.case.name} ({r.case.kind}, {r.case.segments:,} segments, "
            f"{r.lookups:,} lookups x {r.runs} runs)",
            "",
        ]
        if r.case.note:
            lines += [f"*{r.case.note}.*", ""]
        lines += [
            "| implementation | average | min | max | std dev | ±95% | average with RNG "
            "| ns/lookup | x C | one-time setup (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for impl in r.impl_names():
            s = r.seconds(impl)
            ns = r.ns_per_lookup(impl)
            c = c_ns(r, impl)
            ratio = "" if c is None else f"{ns.mean / c:.2f}"
            lines.append(
                f"| {impl} | {_fmt_s(s.mean)} | {_fmt_s(s.minimum)} | {_fmt_s(s.maximum)} | "
                f"{_fmt_s(s.pstdev)} | {_fmt_s(s.margin)} | "
                f"{_fmt_s(r.seconds(impl, with_rng=True).mean)} | {ns.mean:.1f} | {ratio} | "
                f"{r.setup_s(impl):.4f} |"
            )
        if r.c_failures:
            lines += [
                "",
                *(f"*{failure}; not in this case's table.*" for failure in r.c_failures.values()),
            ]
        rng = summarize(r.rng_array)
        rng_list = summarize([a + b for a, b in zip(r.rng_array, r.rng_list, strict=True)])
        lines += [
            "",
            f"RNG per run: {rng.mean:.6f} s drawing the addresses (numpy), "
            f"{rng_list.mean:.6f} s with their conversion to Python ints "
            f"({rng_list.mean / r.lookups * 1e9:.1f} ns a lookup). Layout built in "
            + ", ".join(f"{b}: {s:.3f} s" for b, s in r.build_s.items())
            + ".",
        ]
        pairs = _pairs(r)
        if pairs:
            lines += [
                "",
                "R-B tree vs static array: "
                + "; ".join(f"{label} {pct:+.2f}%" for label, pct in pairs.items())
                + " (positive: the R-B tree is slower).",
            ]
    if results.mutations:
        lines += [
            "",
            "## Plug and unplug",
            "",
            "Per run: K plugs into distinct holes of the fragmented layout, then the K unplugs "
            "of those segments; microseconds per operation.",
            "",
            "| case | segments | runs x K | plug µs | ±95% | unplug µs | ±95% | build (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for m in results.mutations:
            p = summarize(m.plug_us)
            u = summarize(m.unplug_us)
            lines.append(
                f"| {m.case.name} | {m.case.segments:,} | {m.runs} x {m.ops} | {p.mean:.1f} | "
                f"{p.margin:.1f} | {u.mean:.1f} | {u.margin:.1f} | {m.build_s:.2f} |"
            )
    if figures:
        lines += ["", "## Figures", ""]
        lines += [f"![{fig.stem}]({fig.name})" for fig in figures]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# --------------------------------------------------------------------- screen
def console_tables(results: BenchResults, width: int | None = None) -> list[Table]:
    """The rich tables ``physseg bench`` prints: lookups, mutations, targets. With ``width``
    (terminal columns), the lookup table is split by implementation into as many tables as it
    takes for each to fit ``width`` (the case columns repeat in each); ``None`` keeps one table
    with every implementation side by side. O(cases x implementations). Raises nothing."""
    tables: list[Table] = []
    if results.lookups:
        impls = list(dict.fromkeys(i for r in results.lookups for i in r.impl_names()))
        rows = [_lookup_row(r, impls) for r in results.lookups]
        for group in _fitting_groups(rows, len(impls), width):
            part = "" if len(group) == len(impls) else " (continued)" if group[0] else ""
            table = Table(title=f"ns per lookup (mean ± 95% margin, without RNG){part}")
            table.add_column("case")
            table.add_column("segs", justify="right")
            table.add_column("N x R", justify="right")
            for k in group:
                table.add_column(impls[k], justify="right")
            if group[-1] == len(impls) - 1:
                table.add_column("RNG", justify="right")
            for row in rows:
                cells = [row.cells[k] for k in group]
                last = [row.rng] if group[-1] == len(impls) - 1 else []
                table.add_row(*row.head, *cells, *last)
            tables.append(table)
    if results.mutations:
        table = Table(title="plug / unplug (µs per operation, mean ± 95% margin)")
        for column in ("case", "segments", "runs x K", "plug", "unplug", "build s"):
            table.add_column(column, justify="left" if column == "case" else "right")
        for m in results.mutations:
            p = summarize(m.plug_us)
            u = summarize(m.unplug_us)
            table.add_row(
                m.case.name,
                f"{m.case.segments:,}",
                f"{m.runs} x {m.ops}",
                f"{p.mean:.1f} ±{p.margin:.1f}",
                f"{u.mean:.1f} ±{u.margin:.1f}",
                f"{m.build_s:.2f}",
            )
        tables.append(table)
    table = Table(title="targets", caption=results.c_reference.caption())
    for column in ("target", "requirement", "measured", "verdict"):
        table.add_column(column)
    for t in evaluate_targets(results):
        style = {"met": "green", "not met": "red"}.get(t.verdict, "yellow")
        table.add_row(t.name, t.requirement, t.measured, f"[{style}]{t.verdict}[/{style}]")
    tables.append(table)
    return tables


@dataclass(frozen=True, slots=True)
class _LookupRow:
    """One case of the lookup table as text: case, segments, N x R; a cell per
    implementation; the RNG cost."""

    head: tuple[str, str, str]
    cells: list[str]
    rng: str


def _lookup_row(r: LookupResult, impls: list[str]) -> _LookupRow:
    cells = []
    for impl in impls:
        if impl in r.times:
            ns = r.ns_per_lookup(impl)
            cells.append(f"{ns.mean:,.1f} ±{ns.margin:,.1f}")
        else:
            cells.append("")
    rng = (sum(r.rng_array) + sum(r.rng_list)) / r.runs / r.lookups * 1e9
    head = (r.case.name, f"{r.case.segments:,}", f"{_short(r.lookups)} x {r.runs}")
    return _LookupRow(head, cells, f"{rng:.1f}")


def _fitting_groups(rows: list[_LookupRow], nimpls: int, width: int | None) -> list[list[int]]:
    """Split implementation columns ``0..nimpls-1`` into consecutive groups whose table (the
    three case columns, the group, and the RNG column after the last group) is at most
    ``width`` characters wide in rich's default box (a column costs its text plus 3); one group
    when ``width`` is None. A group always holds at least one implementation."""
    if width is None or nimpls == 0:
        return [list(range(nimpls))]

    def column(texts: list[str]) -> int:
        return max(map(len, texts)) + 3

    base = 1 + sum(column([header, *(row.head[i] for row in rows)]) for i, header in
                   enumerate(("case", "segs", "N x R")))  # fmt: skip
    rng = column(["RNG", *(row.rng for row in rows)])
    groups: list[list[int]] = [[]]
    used = base
    for k in range(nimpls):
        cost = column([_IMPL_HEADER_WIDTH * " ", *(row.cells[k] for row in rows)])
        if k == nimpls - 1:
            cost += rng
        if groups[-1] and used + cost > width:
            groups.append([])
            used = base
        groups[-1].append(k)
        used += cost
    return groups


_IMPL_HEADER_WIDTH: Final = 8
"""Columns an implementation's header may take (rich wraps longer names at their hyphen)."""


def _short(count: int) -> str:
    for value, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "K")):
        if count >= value and count % value == 0:
            return f"{count // value}{suffix}"
    return f"{count:,}"


def write_outputs(results: BenchResults, out: Path) -> list[Path]:
    """Write ``results.json``, ``results.csv``, the figures and ``report.md`` into ``out``
    (created if missing); returns the paths written. Raises ``OSError`` if ``out`` cannot be
    written."""
    from physseg.bench.figures import write_figures

    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "results.json"
    csv_path = out / "results.csv"
    markdown_path = out / "report.md"
    write_json(results, json_path)
    write_csv(results, csv_path)
    figures = write_figures(results, out)
    write_markdown(results, markdown_path, figures)
    return [json_path, csv_path, markdown_path, *figures]
