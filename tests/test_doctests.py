"""Every example in a physseg docstring runs and holds: the doctests of every module under
``src/physseg``, the Pythonic face's above all (each method a user calls carries one)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import physseg
from physseg import PhysMem

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(physseg.__path__, prefix="physseg.")
    if info.name != "physseg.__main__"  # importing it runs the command line
)


@pytest.mark.parametrize("name", MODULES)
def test_the_module_examples_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


USER_METHODS = (
    "load",
    "steal_page",
    "boot",
    "plug",
    "unplug",
    "set_start_hint",
    "find",
    "page",
    "pages",
    "segments",
    "holes",
    "stats",
    "snapshot",
)


@pytest.mark.parametrize("method", USER_METHODS)
def test_every_method_a_user_calls_on_the_face_has_an_example(method: str) -> None:
    finder = doctest.DocTestFinder(recurse=False)
    (test,) = finder.find(getattr(PhysMem, method), f"PhysMem.{method}")
    assert test.examples, f"PhysMem.{method} has no doctest"
