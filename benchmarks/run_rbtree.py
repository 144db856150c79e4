"""Time physseg.core.rbtree insert, find and remove on random integer keys; prints ns/op and ops/s.

Run by hand::

    .venv/bin/python benchmarks/run_rbtree.py             # 10^5 keys
    .venv/bin/python benchmarks/run_rbtree.py --million   # 10^5 and 10^6 keys (~0.2 GB, ~20 s)

Each size uses distinct keys drawn from ``[0, 10 n)`` in random order. ``insert`` links every
node into an empty tree, ``find`` looks every key up in a fresh random order, ``iterate`` walks the
tree with ``iterate(node, RB_DIR_RIGHT)`` and ``remove`` unlinks every node in another random
order. Node creation is not timed. The garbage collector is paused while timing, as ``timeit``
does. With ``--repeat R`` the best of R runs is reported.
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import time
from collections.abc import Callable
from typing import Any

from physseg.core.rbtree import RB_DIR_RIGHT, RBNode, RBTree


class IntNode(RBNode):
    """A tree node holding one integer key."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key


class IntOps:
    """Orders :class:`IntNode` by key; subtraction is exact for Python ints."""

    def compare_nodes(self, a: IntNode, b: IntNode) -> int:
        return a.key - b.key

    def compare_key(self, node: IntNode, key: int) -> int:
        return node.key - key


def make_keys(count: int, seed: int = 1) -> list[int]:
    """``count`` distinct integers from ``[0, 10 * count)`` in random order. O(count)."""
    return random.Random(seed).sample(range(10 * count), count)


def insert_all(tree: RBTree[IntNode, int], nodes: list[IntNode]) -> None:
    """Insert every node. O(n log n)."""
    insert = tree.insert
    for node in nodes:
        insert(node)


def find_all(tree: RBTree[IntNode, int], keys: list[int]) -> int:
    """Look every key up; return how many were found. O(n log n)."""
    find = tree.find
    found = 0
    for key in keys:
        if find(key) is not None:
            found += 1
    return found


def iterate_all(tree: RBTree[IntNode, int]) -> int:
    """Walk the tree from its minimum with ``iterate``; return the node count. O(n)."""
    iterate = tree.iterate
    count = 0
    node = iterate(None, 0)
    while node is not None:
        count += 1
        node = iterate(node, RB_DIR_RIGHT)
    return count


def remove_all(tree: RBTree[IntNode, int], nodes: list[IntNode]) -> None:
    """Remove every node. O(n log n)."""
    remove = tree.remove
    for node in nodes:
        remove(node)


def timed(action: Callable[..., object], *args: Any) -> float:
    """Seconds ``action(*args)`` takes with the garbage collector paused."""
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        action(*args)
        return time.perf_counter() - start
    finally:
        gc.enable()


def run_once(keys: list[int], rng: random.Random) -> dict[str, float]:
    """Seconds for each operation over ``keys`` on a fresh tree; the tree ends empty."""
    count = len(keys)
    tree: RBTree[IntNode, int] = RBTree(IntOps())
    nodes = [IntNode(key) for key in keys]
    find_order = rng.sample(keys, count)
    remove_order = rng.sample(nodes, count)
    runs = {
        "insert": timed(insert_all, tree, nodes),
        "find": timed(find_all, tree, find_order),
        "iterate": timed(iterate_all, tree),
        "remove": timed(remove_all, tree, remove_order),
    }
    if tree:
        raise RuntimeError("benchmark left nodes in the tree")
    return runs


def measure(count: int, repeat: int) -> dict[str, float]:
    """Best-of-``repeat`` seconds for each operation over ``count`` keys."""
    keys = make_keys(count)
    rng = random.Random(2)
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, seconds in run_once(keys, rng).items():
            best[name] = min(seconds, best.get(name, seconds))
    return best


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the sizes asked for and print one row per operation."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--million", action="store_true", help="also run 10^6 keys")
    parser.add_argument("--repeat", type=int, default=1, help="report the best of N runs")
    args = parser.parse_args(argv)
    sizes = [10**5, 10**6] if args.million else [10**5]
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}")
    print(f"{'keys':>9} {'op':<8} {'total s':>9} {'ns/op':>9} {'ops/s':>12}")
    for count in sizes:
        for name, seconds in measure(count, args.repeat).items():
            print(
                f"{count:>9} {name:<8} {seconds:>9.3f} {seconds / count * 1e9:>9.0f} "
                f"{count / seconds:>12,.0f}"
            )


if __name__ == "__main__":
    main()
