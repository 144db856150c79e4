"""pytest-benchmark cases for physseg.core.rbtree (10^4 random integer keys).

``pytest benchmarks --benchmark-only`` times them; ``--benchmark-disable`` runs each once as a
quick correctness check. For 10^5 / 10^6 keys use ``benchmarks/run_rbtree.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from physseg.core.rbtree import RBTree
from run_rbtree import IntNode, IntOps, find_all, insert_all, iterate_all, make_keys, remove_all

COUNT = 10_000
"""Keys per case: large enough for ~14-level trees, small enough to build in a few ms."""

ROUNDS = 5
"""Rounds for the cases that need a freshly built tree per round."""


@pytest.fixture(scope="module")
def keys() -> list[int]:
    return make_keys(COUNT)


@pytest.fixture(scope="module")
def full_tree(keys: list[int]) -> RBTree[IntNode, int]:
    tree: RBTree[IntNode, int] = RBTree(IntOps())
    insert_all(tree, [IntNode(key) for key in keys])
    return tree


def test_insert(benchmark: Any, keys: list[int]) -> None:
    trees: list[RBTree[IntNode, int]] = []

    def setup() -> tuple[tuple[RBTree[IntNode, int], list[IntNode]], dict[str, Any]]:
        tree: RBTree[IntNode, int] = RBTree(IntOps())
        trees.append(tree)
        return (tree, [IntNode(key) for key in keys]), {}

    benchmark.pedantic(insert_all, setup=setup, rounds=ROUNDS)
    assert trees and all(len(tree) == COUNT for tree in trees)


def test_find(benchmark: Any, full_tree: RBTree[IntNode, int], keys: list[int]) -> None:
    assert benchmark(find_all, full_tree, keys) == COUNT


def test_find_missing(benchmark: Any, full_tree: RBTree[IntNode, int], keys: list[int]) -> None:
    missing = [key + 10 * COUNT for key in keys]
    assert benchmark(find_all, full_tree, missing) == 0


def test_iterate(benchmark: Any, full_tree: RBTree[IntNode, int]) -> None:
    assert benchmark(iterate_all, full_tree) == COUNT


def test_iter(benchmark: Any, full_tree: RBTree[IntNode, int]) -> None:
    assert benchmark(lambda: sum(1 for _ in full_tree)) == COUNT


def test_remove(benchmark: Any, keys: list[int]) -> None:
    trees: list[RBTree[IntNode, int]] = []

    def setup() -> tuple[tuple[RBTree[IntNode, int], list[IntNode]], dict[str, Any]]:
        tree: RBTree[IntNode, int] = RBTree(IntOps())
        nodes = [IntNode(key) for key in keys]
        insert_all(tree, nodes)
        trees.append(tree)
        return (tree, nodes[::-1]), {}

    benchmark.pedantic(remove_all, setup=setup, rounds=ROUNDS)
    assert trees and all(len(tree) == 0 for tree in trees)
