"""The benchmark's figures, drawn with matplotlib's Agg canvas (no display, no pyplot state).

* ``figure1_distribution.png``: the distribution of the run times of the largest fixed case
  (the paper's 100M calls), static array vs R-B tree, as the kernel searches them and through
  physseg's per-call path;
* ``figure2_fragmentation.png``: the fragmentation cases (and the honest-size ones), time per
  lookup for each implementation (C among them when measured), with the 95% margins;
* ``figure3_cost_vs_segments.png``: cost per lookup against the number of segments, with the C
  points measured in the same run and the 10 x C line;
* ``figure4_mutation.png``: plug and unplug time per operation against the number of segments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from physseg.bench.reference import PER_CALL_FACTOR, CReference
from physseg.bench.runner import BenchResults, LookupResult
from physseg.bench.stats import percent_difference, summarize

__all__ = ["write_figures"]

COLORS: Final = {
    "static-bsearch": "#1f77b4",
    "static-random": "#9edae5",
    "rbtree": "#d62728",
    "fast-static": "#2ca02c",
    "fast-rbtree": "#ff7f0e",
    "batch-static": "#7f7f7f",
    "batch-rbtree": "#9467bd",
    "c-static": "#17becf",
    "c-rbtree": "#000000",
}
LABELS: Final = {
    "static-bsearch": "static array (bsearch)",
    "static-random": "static array (random, linear)",
    "rbtree": "R-B tree (kernel search)",
    "fast-static": "physseg per call, static",
    "fast-rbtree": "physseg per call, R-B tree",
    "batch-static": "physseg batch, static",
    "batch-rbtree": "physseg batch, R-B tree",
    "c-static": "C, static array (bsearch)",
    "c-rbtree": "C, R-B tree",
}
C_IMPLS: Final = ("c-static", "c-rbtree")
"""The implementations timed in C."""
DPI: Final = 120


def _figure(width: float, height: float) -> Figure:
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _caption_c(figure: Figure, reference: CReference) -> None:
    """Name the C figures' origin (or why there are none) under a figure that draws them."""
    text = reference.caption()
    figure.supxlabel(text if not reference.measured else f"C: {text}", fontsize=7)


def write_figures(results: BenchResults, out: Path) -> list[Path]:
    """Draw every figure the results allow into ``out``; returns the files written."""
    written = []
    fixed = [r for r in results.lookups if r.case.kind == "fixed"]
    if fixed:
        written.append(_figure1(max(fixed, key=lambda r: r.lookups), out))
    fragmented = [r for r in results.lookups if r.case.kind in ("fragmented", "honest")]
    if fragmented:
        written.append(_figure2(fragmented, out, results.c_reference))
    if results.lookups:
        written.append(_figure3(results.lookups, out, results.c_reference))
    if results.mutations:
        written.append(_figure4(results, out))
    return written


def _short(count: int) -> str:
    for value, suffix in ((10**6, "M"), (10**3, "K")):
        if count >= value and count % value == 0:
            return f"{count // value}{suffix}"
    return f"{count:,}"


def _figure1(result: LookupResult, out: Path) -> Path:
    figure = _figure(11, 4.4)
    panels = [
        ("As the kernel searches", "static-bsearch", "rbtree"),
        ("physseg PHYS_TO_VM_PAGE (per call)", "fast-static", "fast-rbtree"),
    ]
    panels = [p for p in panels if p[1] in result.times and p[2] in result.times]
    axes = figure.subplots(1, max(1, len(panels)), squeeze=False)[0]
    for ax, (title, static, rbtree) in zip(axes, panels, strict=False):
        samples = [np.asarray(result.times[impl]) for impl in (static, rbtree)]
        for impl, sample in zip((static, rbtree), samples, strict=True):
            # Bins of each implementation's own range: two narrow distributions far apart
            # keep their shapes instead of collapsing into one bar each.
            low, high = float(sample.min()), float(sample.max())
            pad = (high - low) * 0.05 or high * 0.002
            bins = np.linspace(low - pad, high + pad, min(25, max(6, result.runs // 3)) + 1)
            stats = summarize(sample.tolist())
            ax.hist(
                sample,
                bins=bins,
                alpha=0.55,
                color=COLORS[impl],
                edgecolor="white",
                label=f"{LABELS[impl]}: {stats.mean:.4g} s ± {stats.margin:.2g}",
            )
            ax.axvline(stats.mean, color=COLORS[impl], linestyle="--", linewidth=1.5)
        gap = percent_difference(float(samples[0].mean()), float(samples[1].mean()))
        word = "slower" if gap >= 0 else "faster"
        ax.set_title(f"{title}\nR-B tree {abs(gap):.2f}% {word} than the static array")
        ax.set_xlabel(f"run time of {_short(result.lookups)} calls (s)")
        ax.set_ylabel("runs")
        ax.legend(fontsize=8, loc="best")
        ax.grid(alpha=0.3)
    figure.suptitle(
        f"Figure 1: distribution of {result.runs} runs of {_short(result.lookups)} "
        f"PHYS_TO_VM_PAGE calls, {result.case.segments} segments (VM_PHYSSEG_MAX = 32)"
    )
    path = out / "figure1_distribution.png"
    figure.savefig(path)
    return path


def _figure2(results: list[LookupResult], out: Path, reference: CReference) -> Path:
    impls = [i for i in COLORS if any(i in r.times for r in results)]
    figure = _figure(max(8.0, 1.25 * len(results) + 3), 5.0)
    ax = figure.subplots()
    width = 0.8 / len(impls)
    x = np.arange(len(results))
    for k, impl in enumerate(impls):
        means, margins, where = [], [], []
        for i, r in enumerate(results):
            if impl in r.times:
                ns = r.ns_per_lookup(impl)
                means.append(ns.mean)
                margins.append(ns.margin)
                where.append(x[i] + (k - (len(impls) - 1) / 2) * width)
        ax.bar(
            where,
            means,
            width,
            yerr=margins,
            capsize=3,
            color=COLORS[impl],
            label=LABELS[impl],
        )
        for xpos, mean in zip(where, means, strict=True):
            ax.annotate(
                f"{mean:,.0f}",
                (xpos, mean),
                textcoords="offset points",
                xytext=(0, 3),
                ha="center",
                fontsize=7,
            )
    ax.set_xticks(
        x,
        [f"{r.case.name}\n{r.case.segments:,} segs" for r in results],
        fontsize=9,
    )
    ax.set_yscale("log")
    ax.set_ylabel("time per lookup (ns, log scale)")
    lookups = {r.lookups for r in results}
    runs = {r.runs for r in results}
    ax.set_title(
        "Figure 2: fragmentation cases (t_uvm_physseg_load.c, then honest sizes), "
        f"{'/'.join(_short(n) for n in sorted(lookups))} lookups x "
        f"{'/'.join(str(n) for n in sorted(runs))} runs, mean ± 95% margin"
    )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(axis="y", alpha=0.3, which="both")
    _caption_c(figure, reference)
    path = out / "figure2_fragmentation.png"
    figure.savefig(path)
    return path


def _points(results: list[LookupResult], impl: str) -> dict[int, tuple[float, float]]:
    """(mean, margin) ns per lookup of ``impl`` by segment count, from the largest case."""
    best: dict[int, tuple[float, float, int]] = {}
    for r in results:
        if impl in r.times:
            ns = r.ns_per_lookup(impl)
            size = r.lookups * r.runs
            if r.case.segments not in best or size > best[r.case.segments][2]:
                best[r.case.segments] = (ns.mean, ns.margin, size)
    return {segs: (mean, margin) for segs, (mean, margin, _) in best.items()}


def _figure3(results: list[LookupResult], out: Path, reference: CReference) -> Path:
    figure = _figure(10.5, 5.8)
    ax = figure.subplots()
    booted = [r for r in results if r.case.kind != "fixed"]
    fixed = [r for r in results if r.case.kind == "fixed"]
    for impl, color in COLORS.items():
        for subset, marker, style, suffix in (
            (booted, "o", "-", "fragmented layouts"),
            (fixed, "s", "none", "fixed case, at boot"),
        ):
            points = _points(subset, impl)
            if not points:
                continue
            segs = sorted(points)
            ax.errorbar(
                segs,
                [points[n][0] for n in segs],
                yerr=[points[n][1] for n in segs],
                marker=marker,
                markersize=6,
                capsize=3,
                color=color,
                linestyle=style if len(segs) > 1 else "none",
                label=f"{LABELS[impl]} ({suffix})",
            )
    targets = [
        (segs, mean * PER_CALL_FACTOR)
        for impl in C_IMPLS
        for segs, (mean, _) in _points(results, impl).items()
    ]
    if targets:
        ax.plot(
            [segs for segs, _ in targets],
            [ns for _, ns in targets],
            marker="_",
            markersize=18,
            markeredgewidth=2,
            color="black",
            linestyle="none",
            label=f"{PER_CALL_FACTOR:g} x C (the per-call target)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("segments (log scale)")
    ax.set_ylabel("time per lookup (ns, log scale)")
    ax.set_title("Figure 3: cost per PHYS_TO_VM_PAGE against the number of segments")
    ax.grid(alpha=0.3, which="both")
    figure.legend(fontsize=8, loc="outside right upper")
    _caption_c(figure, reference)
    path = out / "figure3_cost_vs_segments.png"
    figure.savefig(path)
    return path


def _figure4(results: BenchResults, out: Path) -> Path:
    figure = _figure(7.5, 4.8)
    ax = figure.subplots()
    ordered = sorted(results.mutations, key=lambda m: m.case.segments)
    segs = [m.case.segments for m in ordered]
    for op, color in (("plug", "#1f77b4"), ("unplug", "#d62728")):
        stats = [summarize(getattr(m, f"{op}_us")) for m in ordered]
        ax.errorbar(
            segs,
            [s.mean for s in stats],
            yerr=[s.margin for s in stats],
            marker="o",
            capsize=3,
            color=color,
            label=f"{op} (µs per operation)",
        )
        ax.plot(
            segs,
            [2 * stats[0].mean] * len(segs),
            color=color,
            linestyle=":",
            linewidth=1,
            label=f"2 x {op} at {segs[0]:,} segments",
        )
    ax.set_xscale("log")
    ax.set_ylim(bottom=0)
    ax.set_xlabel("segments (log scale)")
    ax.set_ylabel("µs per operation")
    ax.set_title("Figure 4: plug and unplug cost against the number of segments (R-B tree)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    path = out / "figure4_mutation.png"
    figure.savefig(path)
    return path
