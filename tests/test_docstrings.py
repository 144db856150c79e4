"""Every public method and property of the engine and of the face documents its cost and its
raises, as STYLE.md asks ("every public method's docstring gives its promise, its cost
``O(...)``, what it raises and its units").

Checked on the live classes (``support.docstrings``), for ``Kernel`` and both builds (each
override is read where it is defined: an override carries its own docstring) and for
``PhysMem``:

* the docstring exists and states a cost, ``O(...)``;
* every exception the body raises directly (``panic`` → ``KernelPanic``, ``kassert`` →
  ``KernelAssertionError``, ``raise SomeError(...)``) is named in the docstring;
* on ``PhysMem``, the face, the docstring says what the method raises (``Raises`` or an
  ``...Error`` name). Exempt are the members with nothing to raise, and the exemption is
  itself checked rather than trusted:

  - a property whose getter is a single ``return`` of a field or expression (``backend``,
    ``npages``, ...): it takes nothing to validate and has no precondition;
  - :data:`READERS`, the argument-free snapshot readers (``segments``, ``holes``, ``stats``,
    ``snapshot``): they take no argument to validate, hold in either phase (before and after
    ``boot``) and only copy state out; the test asserts that they take no argument and that
    they raise nothing on a fresh and on a booted ``PhysMem`` of either backend.

  Everything else on the face validates an argument or needs a phase, so it can raise.

The last tests run each rule on a deliberately broken class, so a rule cannot pass because it
sees nothing: a docstring that lost its cost, an override that lost its docstring, a panic the
docstring does not name, a face method that does not say what it raises.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from typing import Any

import pytest

from physseg import PhysMem
from physseg.netbsd import Kernel, RBTreeKernel, StaticKernel
from physseg.netbsd.kernel import panic
from support.docstrings import (
    Member,
    public_members,
    says_what_it_raises,
    states_cost,
    unnamed_raises,
)

ENGINE_CLASSES = (Kernel, RBTreeKernel, StaticKernel)
"""The engine: the shared base and the two builds whose overrides it dispatches to."""

READERS = frozenset({"segments", "holes", "stats", "snapshot"})
"""``PhysMem`` methods exempt from naming a raise: argument-free readers valid in both phases
(see the module docstring; :func:`test_the_exempt_readers_raise_nothing` holds them to it)."""


def _unique(classes: tuple[type, ...]) -> list[Member]:
    """Each member once, where it is defined (an inherited one is the base's)."""
    seen: dict[tuple[type, str], Member] = {}
    for cls in classes:
        for member in public_members(cls):
            seen.setdefault((member.owner, member.name), member)
    return list(seen.values())


ENGINE = _unique(ENGINE_CLASSES)
FACE = _unique((PhysMem,))


def _is_field_property(member: Member) -> bool:
    """A property whose getter body (after its docstring) is one ``return`` statement."""
    if not isinstance(member.attr, property) or member.function is None:
        return False
    source = textwrap.dedent(inspect.getsource(member.function))
    (definition,) = ast.parse(source).body
    assert isinstance(definition, ast.FunctionDef)
    body = definition.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return len(body) == 1 and isinstance(body[0], ast.Return)


# ----------------------------------------------------------------- the rules on the real classes
@pytest.mark.parametrize("member", ENGINE + FACE, ids=str)
def test_the_docstring_states_a_cost(member: Member) -> None:
    assert member.doc, f"{member} has no docstring"
    assert states_cost(member), f"{member}'s docstring gives no cost O(...): {member.doc!r}"


@pytest.mark.parametrize("member", ENGINE + FACE, ids=str)
def test_the_docstring_names_what_the_body_raises(member: Member) -> None:
    missing = unnamed_raises(member)
    assert not missing, f"{member} raises {sorted(missing)} but its docstring does not say so"


@pytest.mark.parametrize(
    "member",
    [m for m in FACE if m.name not in READERS and not _is_field_property(m)],
    ids=str,
)
def test_a_face_method_says_what_it_raises(member: Member) -> None:
    assert says_what_it_raises(member), f"{member}'s docstring does not say what it raises"


# ----------------------------------------------------------------- the exemptions hold
def test_the_exempt_readers_exist_and_take_no_argument() -> None:
    members = {member.name: member for member in FACE}
    for name in sorted(READERS):
        assert name in members, f"READERS names {name!r}, which PhysMem no longer has"
        member = members[name]
        assert not isinstance(member.attr, property), f"{member} is a property, not a reader"
        parameters = list(inspect.signature(member.attr).parameters)
        assert parameters == ["self"], f"{member} takes {parameters[1:]}: it can be refused"


@pytest.mark.parametrize("backend", ["rbtree", "static"])
def test_the_exempt_readers_raise_nothing(backend: str) -> None:
    fresh = PhysMem(backend)
    booted = PhysMem(backend)
    booted.load(0x100, 0x200)
    booted.load(0x300, 0x400)
    booted.boot(steal=False)
    for mem in (fresh, booted):
        for name in sorted(READERS):
            getattr(mem, name)()


def test_the_rules_see_the_whole_surface() -> None:
    engine = {str(member) for member in ENGINE}
    face = {member.name for member in FACE}
    for name in (
        "Kernel.uvm_physseg_unplug",
        "Kernel.PHYS_TO_VM_PAGE",
        "Kernel.version",
        "Kernel.uvm_physseg_find",
        "RBTreeKernel.uvm_physseg_find",
        "StaticKernel.uvm_physseg_find",
        "RBTreeKernel.tree",
        "StaticKernel.UVM_PHYSSEG_TYPE_INVALID_OVERFLOW",
    ):
        assert name in engine, f"{name} is not checked"
    assert len({member.name for member in ENGINE}) >= 60
    assert {"load", "plug", "unplug", "page", "pages", "check", "npages"} <= face
    assert any(_is_field_property(member) for member in FACE)


# ----------------------------------------------------------------- the rules catch breakage
def _member(cls: type, name: str) -> Member:
    return next(member for member in public_members(cls) if member.name == name)


def test_a_docstring_that_lost_its_cost_is_caught() -> None:
    class Lost(RBTreeKernel):
        def uvm_physseg_find(self, pfn: int) -> tuple[Any, int | None]:
            """The segment holding PFN ``pfn`` and the page offset in it. Raises nothing."""
            return super().uvm_physseg_find(pfn)

        @property
        def tree(self) -> Any:
            """The red-black tree of live segments. Raises nothing."""
            return self._tree

    assert not states_cost(_member(Lost, "uvm_physseg_find"))
    assert not states_cost(_member(Lost, "tree"))
    assert states_cost(_member(RBTreeKernel, "uvm_physseg_find"))


def test_an_override_without_a_docstring_is_caught() -> None:
    class Bare(StaticKernel):
        def uvm_physseg_get_entries(self) -> int:
            return super().uvm_physseg_get_entries()

    member = _member(Bare, "uvm_physseg_get_entries")
    assert member.owner is Bare
    assert member.doc == ""
    assert not states_cost(member)


def test_a_panic_the_docstring_does_not_name_is_caught() -> None:
    class Quiet(RBTreeKernel):
        def uvm_physseg_get_entries(self) -> int:
            """The number of live segments. O(1)."""
            if self._nentries < 0:
                panic("nentries went negative")
            return self._nentries

        def uvm_physseg_get_first(self) -> Any:
            """The lowest segment. O(1)."""
            if not self._tree:
                raise LookupError("empty")
            return self._tree.min()

    assert unnamed_raises(_member(Quiet, "uvm_physseg_get_entries")) == {"KernelPanic"}
    assert unnamed_raises(_member(Quiet, "uvm_physseg_get_first")) == {"LookupError"}
    assert unnamed_raises(_member(Kernel, "uvm_physseg_get_pg")) == set()


def test_a_face_method_that_does_not_say_what_it_raises_is_caught() -> None:
    class Silent(PhysMem):
        def find(self, pfn: int) -> Any:
            """The segment holding ``pfn``. O(log n)."""
            return super().find(pfn)

    assert not says_what_it_raises(_member(Silent, "find"))
    assert says_what_it_raises(_member(PhysMem, "find"))
