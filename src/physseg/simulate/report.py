"""What a simulation leaves behind: a summary table, a PNG of the timeline, CSV and JSON.

For a driver run under one or both policies (coalescing and plain), :func:`write_outputs` writes
into one directory:

* ``<driver>.png``: the timeline, both policies overlaid: target and current size, segment
  count, lookup cost, pages in use and cumulative safe-unplug refusals;
* ``<driver>-<policy>.csv``: one row per time step (:data:`SAMPLE_FIELDS`);
* ``<driver>.json``: configuration, summary, events and refusals (the first
  :data:`JSON_LIST_LIMIT` of each, with totals) and the timeline of every run.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np

from physseg.simulate.timeline import SimResult

JSON_LIST_LIMIT: Final = 100
"""Events and refusals kept per run in the JSON file (the totals are always given)."""
COLOURS: Final = {"coalesce": "tab:blue", "plain": "tab:orange"}
"""Line colour of each policy in the figure."""
SIZE_TITLES: Final = {
    "balloon": "reservation: target (dashed) and current, as the hypervisor counts it",
    "virtio-mem": "device size: requested (dashed) and plugged",
}
"""Title of the size panel for each driver."""
LOG_SCALE_SEGMENTS: Final = 50
"""Above this many segments the segment panel switches to a log scale."""
_STYLES: Final[dict[str, dict[str, float]]] = {
    "coalesce": {"linewidth": 1.3},
    "plain": {"linewidth": 3.2, "alpha": 0.5},
}

_ROWS: Final = (
    ("steps", "steps"),
    ("final_target_mib", "final target (MiB)"),
    ("final_current_mib", "final current (MiB)"),
    ("reached_target", "reached target"),
    ("final_segments", "segments at the end"),
    ("max_segments", "segments at most"),
    ("mean_lookup_ns", "lookup ns/call, mean"),
    ("max_lookup_ns", "lookup ns/call, max"),
    ("plug_calls", "plug calls"),
    ("unplug_calls", "unplug calls"),
    ("refusals", "safe-unplug refusals"),
    ("wall_seconds", "wall time (s)"),
)


def format_summary(results: Sequence[SimResult], page_size: int) -> str:
    """A text table, one column per run, followed by each run's first refusal and last
    event."""
    summaries = [r.summary(page_size) for r in results]
    header = ["", *(f"{r.policy}" for r in results)]
    rows = [header] + [[label, *(str(s[key]) for s in summaries)] for key, label in _ROWS]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for result in results:
        if result.refusals:
            first = result.refusals[0]
            lines.append(f"{result.policy}: first refusal at step {first.step}: {first.message}")
        if result.events:
            step, text = result.events[-1]
            lines.append(f"{result.policy}: last event at step {step}: {text}")
    return "\n".join(lines)


def write_csv(result: SimResult, path: Path) -> None:
    """The run's timeline as CSV."""
    result.timeline.write_csv(path)


def write_json(results: Sequence[SimResult], page_size: int, path: Path, command: str) -> None:
    """Write :func:`json_document` to ``path``. O(steps + events) per run. Raises ``OSError``
    when ``path`` cannot be written."""
    path.write_text(json.dumps(json_document(results, page_size, command), indent=1) + "\n")


def json_document(results: Sequence[SimResult], page_size: int, command: str) -> dict[str, object]:
    """Every run's configuration, summary, events and refusals (the first
    :data:`JSON_LIST_LIMIT` of each, with totals) and timeline, as JSON-ready values.
    O(steps + events) per run. Raises ``IndexError`` for no results."""
    runs = []
    for result in results:
        runs.append(
            {
                "policy": result.policy,
                "seed": result.seed,
                "config": result.config,
                "summary": result.summary(page_size),
                "events_total": len(result.events),
                "events": [list(e) for e in result.events[:JSON_LIST_LIMIT]],
                "refusals_total": len(result.refusals),
                "refusals": [
                    {"step": r.step, "pfn": r.pfn, "npages": r.npages, "message": r.message}
                    for r in result.refusals[:JSON_LIST_LIMIT]
                ],
                "timeline": result.timeline.records(),
            }
        )
    return {"driver": results[0].driver, "command": command, "page_size": page_size, "runs": runs}


def plot(results: Sequence[SimResult], page_size: int, path: Path, title: str) -> None:
    """The timeline figure: five panels sharing the time axis, one line per run. The plain run
    is drawn wide and pale under the thinner coalescing one, so both show where they agree."""
    from matplotlib.figure import Figure  # matplotlib: not paid by every physseg command

    mib = page_size / (1 << 20)
    fig = Figure(figsize=(11, 13), layout="constrained")
    axes = fig.subplots(5, 1, sharex=True)
    size_axis, seg_axis, cost_axis, busy_axis, refusal_axis = axes
    ordered = sorted(results, key=lambda r: r.policy != "plain")
    targets = [r.timeline.column("target_pages") for r in ordered]
    shared_target = all(np.array_equal(targets[0], t) for t in targets)
    if shared_target:
        steps = ordered[0].timeline.column("step")
        size_axis.plot(steps, targets[0] * mib, "k--", linewidth=1, label="target")
    for result, target in zip(ordered, targets, strict=True):
        timeline = result.timeline
        steps = timeline.column("step")
        style = {"color": COLOURS.get(result.policy, "tab:gray"), **_STYLES[result.policy]}
        name = result.policy
        if not shared_target:
            size_axis.plot(steps, target * mib, linestyle="--", label=f"{name}: target", **style)
        size_axis.plot(
            steps, timeline.column("current_pages") * mib, label=f"{name}: current", **style
        )
        seg_axis.plot(
            steps,
            timeline.column("segments"),
            label=f"{name} (end: {timeline.samples[-1].segments})",
            **style,
        )
        cost = timeline.column("lookup_ns")
        cost_axis.plot(steps, cost, label=f"{name} (mean {cost.mean():.0f} ns)", **style)
        busy_axis.plot(steps, timeline.column("busy_pages") * mib, label=f"{name}: in use", **style)
        busy_axis.plot(
            steps,
            timeline.column("free_pages") * mib,
            linestyle=":",
            label=f"{name}: free",
            **style,
        )
        refusal_axis.step(
            steps,
            timeline.column("refusals"),
            where="post",
            label=f"{name} (total {len(result.refusals)})",
            **style,
        )
    size_axis.set_ylabel("MiB")
    size_axis.set_title(SIZE_TITLES.get(results[0].driver, "target and current size"))
    if max(int(r.timeline.column("segments").max()) for r in results) > LOG_SCALE_SEGMENTS:
        seg_axis.set_yscale("log")
        seg_axis.set_ylabel("segments (log scale)")
    else:
        seg_axis.set_ylabel("segments")
        seg_axis.set_ylim(bottom=0)
    seg_axis.set_title("segments in the tree")
    cost_axis.set_ylabel("ns per lookup")
    cost_axis.set_title(
        "cost of uvm_physseg_find on a random managed page, measured on the live state"
    )
    cost_axis.set_ylim(bottom=0)
    busy_axis.set_ylabel("MiB")
    busy_axis.set_title("pages in use (workload and driver) and free pages")
    refusal_axis.set_ylabel("refusals")
    refusal_axis.set_title("unplugs refused by the safe mode (cumulative)")
    refusal_axis.set_xlabel("time step")
    for axis in axes:
        axis.grid(True, alpha=0.3)
        axis.legend(loc="best", fontsize=8, ncols=3, framealpha=0.9)
    fig.suptitle(title, fontsize=12)
    fig.savefig(path, dpi=100)


def write_outputs(
    results: Sequence[SimResult], page_size: int, out_dir: Path, command: str
) -> list[Path]:
    """Write the PNG, one CSV per run and the JSON into ``out_dir`` (created if missing);
    returns the paths written. Raises ``ValueError`` for no results and ``OSError`` when the
    directory cannot be written."""
    if not results:
        raise ValueError("write_outputs: no results")
    out_dir.mkdir(parents=True, exist_ok=True)
    driver = results[0].driver
    paths = []
    for result in results:
        csv_path = out_dir / f"{driver}-{result.policy}.csv"
        write_csv(result, csv_path)
        paths.append(csv_path)
    json_path = out_dir / f"{driver}.json"
    write_json(results, page_size, json_path, command)
    paths.append(json_path)
    png_path = out_dir / f"{driver}.png"
    policies = " vs ".join(r.policy for r in results)
    steps = len(results[0].timeline)
    plot(
        results, page_size, png_path, f"{driver}: {policies}, seed {results[0].seed}, {steps} steps"
    )
    paths.append(png_path)
    return paths
