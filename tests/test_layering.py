"""The import graph of ``src/physseg`` keeps the layers of docs/architecture.md: no cycle, the
engine's builds and segment record stay inside ``physseg.netbsd``, ``physseg.core`` knows no
kernel, only ``python -m physseg`` reaches into the command line, and ``physseg.errors`` is a
leaf.

The graph is read from the source with ``ast`` (``support.imports``): every import statement
counts, at module level, inside functions and under ``if TYPE_CHECKING:``, and so do
``importlib.import_module`` calls. The second half of the file runs the graph builder and each
rule on small synthetic inputs, so a rule cannot pass because it sees nothing.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from support.imports import (
    Cycle,
    Edge,
    ImportGraph,
    Module,
    find_cycles,
    format_cycle,
    import_graph,
    scan_package,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "physseg"
"""The package under test, read from this checkout's source tree (never imported)."""

BUILD_INTERNALS = frozenset(
    {"physseg.netbsd.rbtree_build", "physseg.netbsd.static_build", "physseg.netbsd.segment"}
)
"""The engine's build classes and segment record: only ``physseg.netbsd`` may import them."""

BUILD_NAMES = ("RBTreeKernel", "StaticKernel", "rbtree_build", "static_build")
"""Names no module outside ``src/physseg/netbsd/`` may even mention (code, comment or docstring):
outside the engine, ask it a capability instead of naming a build."""

RECORD_READS = (
    r"\.seg\(",
    r"kernel\.segments\(\)",
    r"\.tree\b",
    r"\bnseg\b",
    r"\bpool_slot\b",
    r"\.ext\b",
    r"__dict__",
    r"getattr\([^)]*kernel",
    r"\.backend\s*[!=]=",
)
"""Code shapes that read a segment record or a build's internals, or ask which build a kernel
is; no module outside ``src/physseg/netbsd/`` may contain one (handles are opaque: use the
engine's questions ``segment_infos``/``segment_at``/``extent_infos`` and capabilities)."""

CORE_MAY_IMPORT = ("physseg.core", "physseg.errors")
"""What ``physseg.core.*`` may import from physseg (packages include their submodules)."""

CLI_ENTRY = "physseg.__main__"
"""The one module outside ``physseg.cli`` that may import it."""


def within(name: str, *packages: str) -> bool:
    """Whether module ``name`` is one of ``packages`` or inside one of them."""
    return any(name == p or name.startswith(f"{p}.") for p in packages)


@functools.cache
def physseg_modules() -> dict[str, Module]:
    return scan_package(SRC)


@functools.cache
def physseg_graph() -> ImportGraph:
    return import_graph(physseg_modules())


def report(what: str, offences: Iterable[object]) -> str:
    return f"{what}:\n" + "\n".join(f"  {offence}" for offence in offences)


# The rules, as functions of a graph (or of the sources) returning what breaks them.


def cycles(graph: ImportGraph) -> list[Cycle]:
    return find_cycles(graph.successors())


def build_internal_imports(graph: ImportGraph) -> list[Edge]:
    return [
        e
        for e in graph.edges
        if e.imported in BUILD_INTERNALS and not within(e.importer, "physseg.netbsd")
    ]


def build_names_outside_netbsd(modules: Iterable[Module]) -> list[str]:
    pattern = re.compile("|".join(BUILD_NAMES))
    return [
        f"{m.path}:{line}: {match.group()}"
        for m in modules
        if not within(m.name, "physseg.netbsd")
        for line, text in enumerate(m.source.splitlines(), start=1)
        for match in pattern.finditer(text)
    ]


def record_reads_outside_netbsd(modules: Iterable[Module]) -> list[str]:
    pattern = re.compile("|".join(RECORD_READS))
    return [
        f"{m.path}:{line}: {match.group()}"
        for m in modules
        if not within(m.name, "physseg.netbsd")
        for line, text in enumerate(m.source.splitlines(), start=1)
        for match in pattern.finditer(text)
    ]


def core_imports_outside_core(graph: ImportGraph) -> list[Edge]:
    return [
        e
        for e in graph.edges
        if within(e.importer, "physseg.core") and not within(e.imported, *CORE_MAY_IMPORT)
    ]


def cli_imports_from_outside(graph: ImportGraph) -> list[Edge]:
    return [
        e
        for e in graph.edges
        if within(e.imported, "physseg.cli")
        and not within(e.importer, "physseg.cli")
        and e.importer != CLI_ENTRY
    ]


def errors_imports(graph: ImportGraph) -> list[Edge]:
    return [e for e in graph.edges if e.importer == "physseg.errors"]


# The rules on physseg.


def test_no_import_cycle_among_physseg_modules() -> None:
    graph = physseg_graph()
    found = cycles(graph)
    assert not found, report("import cycles", (format_cycle(c, graph) for c in found))


def test_only_netbsd_imports_the_builds_and_the_segment_record() -> None:
    offences = build_internal_imports(physseg_graph())
    assert not offences, report("imports of netbsd's builds or segment record", offences)


def test_no_module_outside_netbsd_names_a_build() -> None:
    offences = build_names_outside_netbsd(physseg_modules().values())
    assert not offences, report("build names outside src/physseg/netbsd/", offences)


def test_no_module_outside_netbsd_reads_a_record_or_asks_the_build() -> None:
    offences = record_reads_outside_netbsd(physseg_modules().values())
    assert not offences, report("record or build reads outside src/physseg/netbsd/", offences)


def test_core_imports_only_core_and_errors() -> None:
    offences = core_imports_outside_core(physseg_graph())
    assert not offences, report("physseg.core imports from a higher layer", offences)


def test_only_the_main_module_imports_the_cli() -> None:
    offences = cli_imports_from_outside(physseg_graph())
    assert not offences, report(
        f"imports of physseg.cli from outside it (not {CLI_ENTRY})", offences
    )


def test_errors_imports_nothing_from_physseg() -> None:
    offences = errors_imports(physseg_graph())
    assert not offences, report("physseg.errors imports", offences)


def test_every_dynamic_import_of_physseg_resolves() -> None:
    unresolved = physseg_graph().unresolved
    assert not unresolved, report("import_module calls the graph cannot follow", unresolved)


def test_the_graph_covers_every_source_file_and_the_rules_name_real_modules() -> None:
    modules = physseg_modules()
    assert len(modules) == len(list(SRC.rglob("*.py")))
    named = {*BUILD_INTERNALS, *CORE_MAY_IMPORT, CLI_ENTRY, "physseg.netbsd", "physseg.cli"}
    assert named <= modules.keys(), f"rules name missing modules: {sorted(named - modules.keys())}"


# The checker on synthetic packages.


def write_package(root: Path, files: dict[str, str]) -> dict[str, Module]:
    """Write ``files`` (paths relative to the package directory ``root``) and scan it."""
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return scan_package(root)


def pairs(graph: ImportGraph) -> set[tuple[str, str]]:
    return {(e.importer, e.imported) for e in graph.edges}


def test_a_three_module_cycle_is_found_and_reported(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "a.py": "from pkg.b import thing\n",
            "b.py": "import pkg.c\n",
            "c.py": "from pkg import a\n",
            "d.py": "from pkg.a import other\n",
        },
    )
    graph = import_graph(modules)

    found = cycles(graph)

    assert found == [Cycle(("pkg.a", "pkg.b", "pkg.c"), ("pkg.a", "pkg.b", "pkg.c", "pkg.a"))]
    assert format_cycle(found[0], graph).splitlines() == [
        "pkg.a -> pkg.b -> pkg.c -> pkg.a",
        "  (one cycle among 3 modules: pkg.a, pkg.b, pkg.c)",
        "    pkg.a -> pkg.b (pkg/a.py:1)",
        "    pkg.b -> pkg.c (pkg/b.py:1)",
        "    pkg.c -> pkg.a (pkg/c.py:1)",
    ]


def test_an_acyclic_graph_has_no_cycle_even_with_a_diamond_and_reexports(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "from pkg.face import Face\n",
            "face.py": "from pkg.left import L\nfrom pkg.right import R\n",
            "left.py": "from pkg.base import B\n",
            "right.py": "from pkg import base\n",
            "base.py": "import os\n",
        },
    )
    graph = import_graph(modules)

    assert len(graph.edges) == 5
    assert cycles(graph) == []


def test_a_self_import_is_a_cycle() -> None:
    assert find_cycles({"m": ["m"], "n": []}) == [Cycle(("m",), ("m", "m"))]


def test_the_reported_cycle_is_a_real_path_through_a_larger_component() -> None:
    successors = {"a": ["b"], "b": ["c", "d"], "c": ["a"], "d": ["b", "e"], "e": []}

    (cycle,) = find_cycles(successors)

    assert cycle.members == ("a", "b", "c", "d")
    assert cycle.path == ("a", "b", "c", "a")
    assert all(y in successors[x] for x, y in zip(cycle.path, cycle.path[1:], strict=False))


def test_type_checking_function_level_and_nested_imports_are_edges(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "low.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n"
                "    from pkg.high import High\n"
                "def f():\n"
                "    import pkg.mid\n"
                "class C:\n"
                "    def g(self):\n"
                "        try:\n"
                "            from pkg import top\n"
                "        except ImportError:\n"
                "            pass\n"
            ),
            "high.py": "",
            "mid.py": "",
            "top.py": "",
        },
    )

    graph = import_graph(modules)

    assert pairs(graph) == {("pkg.low", "pkg.high"), ("pkg.low", "pkg.mid"), ("pkg.low", "pkg.top")}
    assert [e.line for e in graph.edges] == [3, 5, 9]


def test_from_imports_resolve_to_the_submodule_else_the_package(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "from pkg.sub.x import X\n",
            "sub/__init__.py": "X = 1\n",
            "sub/x.py": "",
            "user.py": "from pkg.sub import X, x\nfrom pkg import sub\nimport numpy\n",
        },
    )

    graph = import_graph(modules)

    assert pairs(graph) == {
        ("pkg", "pkg.sub.x"),
        ("pkg.user", "pkg.sub"),
        ("pkg.user", "pkg.sub.x"),
    }


def test_relative_imports_resolve_against_the_importing_package(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "from . import sub\n",
            "util.py": "",
            "sub/__init__.py": "from .x import X\nfrom .. import util\n",
            "sub/x.py": "from . import y\nfrom ..util import helper\nfrom .y import *\n",
            "sub/y.py": "",
        },
    )

    graph = import_graph(modules)

    assert pairs(graph) == {
        ("pkg", "pkg.sub"),
        ("pkg.sub", "pkg.sub.x"),
        ("pkg.sub", "pkg.util"),
        ("pkg.sub.x", "pkg.sub.y"),
        ("pkg.sub.x", "pkg.util"),
    }


def test_import_module_calls_are_edges_to_every_module_they_can_load(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "cmds/__init__.py": "",
            "cmds/one.py": "",
            "cmds/two.py": "",
            "other.py": "",
            "main.py": (
                "import importlib\n"
                "from importlib import import_module\n"
                "def load(name):\n"
                '    importlib.import_module(f"pkg.cmds.{name}")\n'
                '    import_module("pkg.other")\n'
                '    importlib.import_module("json")\n'
                '    importlib.import_module(f"numpy.{name}")\n'
            ),
        },
    )

    graph = import_graph(modules)

    assert pairs(graph) == {
        ("pkg.main", "pkg.cmds.one"),
        ("pkg.main", "pkg.cmds.two"),
        ("pkg.main", "pkg.other"),
    }
    assert graph.unresolved == []


def test_import_module_calls_the_graph_cannot_follow_are_recorded(tmp_path: Path) -> None:
    modules = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "main.py": (
                "import importlib\n"
                "def load(name):\n"
                "    importlib.import_module(name)\n"
                '    importlib.import_module(".x", "pkg")\n'
                '    importlib.import_module(f"pkg.gone.{name}")\n'
            ),
        },
    )

    graph = import_graph(modules)

    assert graph.edges == []
    assert graph.unresolved == ["pkg/main.py:3", "pkg/main.py:4", "pkg/main.py:5"]


def synthetic(*pairs: tuple[str, str]) -> ImportGraph:
    names = frozenset(name for pair in pairs for name in pair)
    return ImportGraph(names, [Edge(a, b, f"{a}.py", 1) for a, b in pairs])


@pytest.mark.parametrize(
    ("rule", "forbidden", "allowed"),
    [
        (
            build_internal_imports,
            [
                ("physseg.physmem", "physseg.netbsd.segment"),
                ("physseg.x", "physseg.netbsd.static_build"),
            ],
            [
                ("physseg.netbsd.kernel", "physseg.netbsd.segment"),
                ("physseg.physmem", "physseg.netbsd"),
            ],
        ),
        (
            core_imports_outside_core,
            [("physseg.core.extent", "physseg.netbsd"), ("physseg.core", "physseg.physmem")],
            [("physseg.core.extent", "physseg.core.alloc"), ("physseg.core.x", "physseg.errors")],
        ),
        (
            cli_imports_from_outside,
            [("physseg.bench.report", "physseg.cli.table"), ("physseg", "physseg.cli")],
            [("physseg.__main__", "physseg.cli"), ("physseg.cli.main", "physseg.cli.commands")],
        ),
        (
            errors_imports,
            [("physseg.errors", "physseg.core.alloc")],
            [("physseg.core.alloc", "physseg.errors")],
        ),
    ],
    ids=["builds", "core", "cli", "errors"],
)
def test_each_rule_flags_what_it_forbids_and_only_that(
    rule: Callable[[ImportGraph], list[Edge]],
    forbidden: list[tuple[str, str]],
    allowed: list[tuple[str, str]],
) -> None:
    offences = rule(synthetic(*forbidden, *allowed))

    assert [(e.importer, e.imported) for e in offences] == forbidden


def test_build_names_are_flagged_anywhere_in_the_text_outside_netbsd() -> None:
    modules = [
        Module("physseg.face", False, "physseg/face.py", '"""Uses the\nStaticKernel."""\n'),
        Module("physseg.bench.x", False, "physseg/bench/x.py", "# see rbtree_build\n"),
        Module("physseg.netbsd.kernel", False, "physseg/netbsd/kernel.py", "RBTreeKernel\n"),
        Module("physseg.other", False, "physseg/other.py", "Kernel\n"),
    ]

    assert build_names_outside_netbsd(modules) == [
        "physseg/face.py:2: StaticKernel",
        "physseg/bench/x.py:1: rbtree_build",
    ]


def test_record_reads_and_build_questions_are_flagged_outside_netbsd() -> None:
    modules = [
        Module("physseg.face", False, "physseg/face.py", "x = kernel.seg(upm).pgs\n"),
        Module("physseg.policy", False, "physseg/policy.py", "if self.backend != 'rbtree':\n"),
        Module("physseg.walk", False, "physseg/walk.py", "n = len(kernel.segments())\n"),
        Module("physseg.netbsd.kernel", False, "physseg/netbsd/kernel.py", "seg.ext.members\n"),
        Module("physseg.other", False, "physseg/other.py", "kernel.segment_infos()\n"),
    ]

    assert record_reads_outside_netbsd(modules) == [
        "physseg/face.py:1: .seg(",
        "physseg/policy.py:1: .backend !=",
        "physseg/walk.py:1: kernel.segments()",
    ]
