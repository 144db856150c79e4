"""The import graph of a package, read from its source with ``ast`` (nothing is imported).

:func:`scan_package` reads every module of a package directory; :func:`import_graph` turns
their import statements into edges between the package's own modules; :func:`find_cycles`
reports one cycle per strongly connected component. ``tests/test_layering.py`` holds physseg's
import graph to the layering the architecture promises, and checks these functions on small
synthetic packages so a rule cannot pass because the graph came out empty.

What counts as an edge ``importer -> imported``:

* every ``import`` and ``from ... import`` statement, wherever it is: module level, inside a
  function or class, under ``if TYPE_CHECKING:`` or ``try:`` (the layering is about what a
  module depends on, not about when the import runs);
* ``import a.b.c`` is an edge to ``a.b.c``; ``from a.b import c`` is an edge to ``a.b.c`` when
  that is a module, else to ``a.b`` (``c`` is a name defined in ``a.b``). A dotted name that is
  not one of the package's modules falls back to its longest prefix that is (so a missing
  submodule still shows as an edge to its package); names outside the package are ignored;
* relative imports (``from . import c``, ``from ..x import y``) are resolved against the
  importing module's package first, then as above;
* ``importlib.import_module(arg)`` (or a bare ``import_module(arg)``) whose ``arg`` is a string
  literal is an edge to that module; an f-string is an edge to every module whose name starts
  with its literal prefix (``f"pkg.cmds.{name}"`` reaches every module of ``pkg.cmds``). A call
  that may load one of the package's modules but names none (a variable, a relative name, a
  prefix no module has) is recorded in :attr:`ImportGraph.unresolved`;
* a package's ``__init__.py`` is the module named after the package (``pkg.sub``).

Importing ``a.b.c`` also runs the ``__init__`` of ``a`` and ``a.b``; those implicit parent
edges are *not* added (every module would then depend on its package's re-exports, and any
package whose ``__init__`` re-exports a submodule would form a cycle with it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Module:
    """One module's source: its dotted ``name``, whether it is a package's ``__init__``, the
    ``path`` to show in messages and its ``source`` text."""

    name: str
    is_package: bool
    path: str
    source: str


@dataclass(frozen=True, order=True)
class Edge:
    """``importer`` imports ``imported``, at ``path:line``."""

    importer: str
    imported: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} ({self.path}:{self.line})"


@dataclass
class ImportGraph:
    """The edges among a package's modules, and the dynamic imports that could not be resolved
    (as ``path:line`` strings)."""

    modules: frozenset[str]
    edges: list[Edge] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    def successors(self) -> dict[str, set[str]]:
        """Adjacency sets: every module maps to the modules it imports (possibly none)."""
        out: dict[str, set[str]] = {name: set() for name in self.modules}
        for edge in self.edges:
            out[edge.importer].add(edge.imported)
        return out

    def edges_between(self, importer: str, imported: str) -> list[Edge]:
        """Every import statement of ``importer`` that makes an edge to ``imported``."""
        return [e for e in self.edges if e.importer == importer and e.imported == imported]


def scan_package(root: Path) -> dict[str, Module]:
    """Every ``*.py`` module under the package directory ``root`` (whose name is the package
    name), keyed by dotted name; ``__init__.py`` is the package itself. O(files)."""
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        shown = str(path.relative_to(root.parent))
        modules[name] = Module(name, is_package, shown, path.read_text(encoding="utf-8"))
    return modules


def import_graph(modules: Mapping[str, Module]) -> ImportGraph:
    """The import graph among ``modules`` (see the module docstring for what is an edge).

    O(total source size). Raises ``SyntaxError`` for a module that does not parse.
    """
    graph = ImportGraph(frozenset(modules))
    for module in modules.values():
        tree = ast.parse(module.source, filename=module.path)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom | ast.Call):
                continue
            for target in set(_targets(node, module, graph.modules, graph.unresolved)):
                graph.edges.append(Edge(module.name, target, module.path, node.lineno))
    graph.edges.sort()
    return graph


def _targets(
    node: ast.Import | ast.ImportFrom | ast.Call,
    module: Module,
    known: frozenset[str],
    unresolved: list[str],
) -> Iterator[str]:
    """The package's modules that one import statement or call imports (none for most
    calls)."""
    if isinstance(node, ast.Import):
        for alias in node.names:
            target = _known_prefix(alias.name, known)
            if target is not None:
                yield target
    elif isinstance(node, ast.ImportFrom):
        base = _absolute(node, module)
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            target = submodule if submodule in known else _known_prefix(base, known)
            if target is not None:
                yield target
    elif _is_import_module(node.func) and node.args:
        yield from _dynamic_targets(node.args[0], module, node.lineno, known, unresolved)


def _absolute(node: ast.ImportFrom, module: Module) -> str:
    """The absolute dotted name ``from <this> import ...`` refers to."""
    if node.level == 0:
        return node.module or ""
    package = module.name.split(".")
    if not module.is_package:
        package.pop()
    if node.level > 1:
        package = package[: len(package) - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])


def _known_prefix(dotted: str, known: frozenset[str]) -> str | None:
    """The longest prefix of ``dotted`` (whole components) that is one of the ``known``
    modules, or ``None`` when the name is outside the package."""
    parts = dotted.split(".")
    while parts:
        name = ".".join(parts)
        if name in known:
            return name
        parts.pop()
    return None


def _is_import_module(func: ast.expr) -> bool:
    """Whether a call's function is ``importlib.import_module`` or a bare ``import_module``."""
    if isinstance(func, ast.Attribute):
        return func.attr == "import_module"
    return isinstance(func, ast.Name) and func.id == "import_module"


def _dynamic_targets(
    arg: ast.expr, module: Module, line: int, known: frozenset[str], unresolved: list[str]
) -> Iterator[str]:
    """The modules an ``import_module(arg)`` call can load: the literal's module, or every
    module named with an f-string's literal prefix. A call that may load one of the package's
    modules but names none of them (a relative name, a variable, a prefix matching nothing) is
    recorded in ``unresolved``."""
    prefix = ""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        prefix = arg.value
    elif isinstance(arg, ast.JoinedStr):
        for part in arg.values:
            if not (isinstance(part, ast.Constant) and isinstance(part.value, str)):
                break
            prefix += part.value
    roots = {name.partition(".")[0] for name in known}
    ours = prefix.startswith(".") or any(
        r.startswith(prefix) or prefix.startswith(r) for r in roots
    )
    if prefix and not ours:
        return  # another package's module
    if isinstance(arg, ast.Constant):
        matches = [prefix] if prefix in known else []
    else:
        matches = [name for name in known if prefix and name.startswith(prefix)]
    if not matches:
        unresolved.append(f"{module.path}:{line}")
    yield from sorted(name for name in matches if name != module.name)  # loading itself: no-op


@dataclass(frozen=True, order=True)
class Cycle:
    """A strongly connected component of two or more modules (or one that imports itself):
    its ``members`` sorted, and one ``path`` ``[a, b, ..., a]`` around it (``[a, a]`` for a
    self-import) through its smallest member."""

    members: tuple[str, ...]
    path: tuple[str, ...]


def find_cycles(successors: Mapping[str, Iterable[str]]) -> list[Cycle]:
    """One :class:`Cycle` for every strongly connected component that has one; empty when the
    graph is acyclic.

    Tarjan's algorithm (iterative), then a breadth-first search inside each component for the
    shortest cycle through its smallest member. O(V + E). Deterministic: the result is sorted.
    """
    graph = {node: sorted(set(succ)) for node, succ in successors.items()}
    for succ in list(graph.values()):
        for node in succ:
            graph.setdefault(node, [])
    cycles = []
    for component in _strongly_connected(graph):
        start = min(component)
        if len(component) == 1 and start not in graph[start]:
            continue
        path = _shortest_cycle(graph, start, component)
        cycles.append(Cycle(tuple(sorted(component)), tuple(path)))
    return sorted(cycles)


def _strongly_connected(graph: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components, without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    components.append(component)
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def _shortest_cycle(graph: Mapping[str, list[str]], start: str, component: set[str]) -> list[str]:
    """The shortest path ``start -> ... -> start`` inside ``component`` (which has one)."""
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in graph[node]:
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return [*reversed(path), start]
                if child in component and child not in parent:
                    parent[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {start} in its component {sorted(component)}")


def format_cycle(cycle: Cycle, graph: ImportGraph) -> str:
    """The cycle's path, then every import statement between two of its members (breaking
    the cycle means removing enough of them)."""
    inside = set(cycle.members)
    lines = [" -> ".join(cycle.path)]
    if len(inside) > 2:
        lines.append(f"  (one cycle among {len(inside)} modules: {', '.join(cycle.members)})")
    lines += [
        f"    {edge}" for edge in graph.edges if edge.importer in inside and edge.imported in inside
    ]
    return "\n".join(lines)
