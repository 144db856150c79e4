"""The house style's docstring rules, checked on live classes (``tests/test_docstrings.py``).

:func:`public_members` lists what a class offers its callers: every public callable attribute
and property as resolved on the class, inherited ones included, each with the class that
defines it. The rules then look at one member at a time:

* :func:`states_cost`: its docstring exists and gives a cost, ``O(...)``;
* :func:`unnamed_raises`: every exception its own body raises directly, through the engine's
  ``panic(...)`` (``KernelPanic``) or ``kassert(...)`` (``KernelAssertionError``) or a ``raise
  Name(...)`` statement, is named in its docstring. Only the body read with ``ast`` counts:
  what a callee raises is the callee's docstring's business, and ``assert`` statements (type
  narrowing, invariant checks) are not raises a caller is promised;
* :func:`says_what_it_raises`: its docstring says what it raises (``Raises`` or an exception
  name ending in ``Error``).
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

COST = "O("
"""What marks a cost in a docstring: ``O(1)``, ``O(log n)``, ``O(n + regions)``..."""

RAISING_CALLS = {"panic": "KernelPanic", "kassert": "KernelAssertionError"}
"""The engine's raising helpers (``physseg.netbsd.kernel``) and the exception each raises."""


@dataclass(frozen=True)
class Member:
    """One public member of ``cls`` named ``name``, defined in ``owner`` (``cls`` or a base);
    ``attr`` is the raw class attribute (a function, a property, ...)."""

    cls: type
    owner: type
    name: str
    attr: Any

    @property
    def doc(self) -> str:
        """The member's own docstring, ``""`` when it has none (never inherited from a base:
        an override that drops its docstring is missing one)."""
        return inspect.cleandoc(self.attr.__doc__ or "")

    @property
    def function(self) -> Callable[..., Any] | None:
        """The code behind the member: a property's getter, else the function itself."""
        attr = self.attr.fget if isinstance(self.attr, property) else self.attr
        return attr if inspect.isfunction(attr) else None

    def __str__(self) -> str:
        return f"{self.owner.__name__}.{self.name}"


def public_members(cls: type) -> Iterator[Member]:
    """Every public callable attribute and property of ``cls``, by name: names without a
    leading underscore (dunders included in that exclusion), whose class attribute is a
    property or callable (functions, static and class methods, nested classes)."""
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        attr = inspect.getattr_static(cls, name)
        if isinstance(attr, staticmethod | classmethod):
            attr = attr.__func__
        if isinstance(attr, property) or callable(attr):
            owner = next(base for base in cls.__mro__ if name in vars(base))
            yield Member(cls, owner, name, attr)


def states_cost(member: Member) -> bool:
    """Whether the member's docstring exists and states a cost."""
    return COST in member.doc


def raised_names(function: Callable[..., Any]) -> set[str]:
    """The exception names ``function``'s own body raises directly (see the module)."""
    source = textwrap.dedent(inspect.getsource(function))
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in RAISING_CALLS:
                names.add(RAISING_CALLS[node.func.id])
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name):
                names.add(exc.id)
    return names


def unnamed_raises(member: Member) -> set[str]:
    """The exceptions the member's body raises directly that its docstring does not name."""
    function = member.function
    if function is None:
        return set()
    return {name for name in raised_names(function) if name not in member.doc}


def says_what_it_raises(member: Member) -> bool:
    """Whether the docstring says what the member raises: ``Raises``, or an exception name."""
    doc = member.doc
    return "Raises" in doc or "Error" in doc
