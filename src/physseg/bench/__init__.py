"""The paper's evaluation as a product: NetBSD's load-test workloads, timed side by side on
every implementation, with the paper's statistics, tables and figures (``physseg bench``).

Modules: :mod:`~physseg.bench.workloads` (cases and profiles), :mod:`~physseg.bench.impls`
(the implementations compared), :mod:`~physseg.bench.runner` (timed runs),
:mod:`~physseg.bench.stats` (average, standard deviation, 95% margin),
:mod:`~physseg.bench.reference` (the C figures and the per-call target),
:mod:`~physseg.bench.report` (targets, JSON, CSV, Markdown, screen tables) and
:mod:`~physseg.bench.figures` (PNG figures, drawn for the report).
"""
