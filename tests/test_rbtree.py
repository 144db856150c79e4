"""Specification tests for physseg.core.rbtree: rbtree(3) semantics, red-black invariants,
check()."""

from __future__ import annotations

import bisect
import copy
import doctest
import random

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
)

import physseg.core.rbtree
from physseg.core.rbtree import RB_DIR_LEFT, RB_DIR_RIGHT, RBNode, RBTree


class Item(RBNode):
    """A tree node keyed by an int; its __init__ deliberately does not call super().__init__()."""

    __slots__ = ("key",)

    def __init__(self, key: int) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"Item({self.key})"


class ItemOps:
    def compare_nodes(self, a: Item, b: Item) -> int:
        return (a.key > b.key) - (a.key < b.key)

    def compare_key(self, node: Item, key: int) -> int:
        return (node.key > key) - (node.key < key)


def make_tree() -> RBTree[Item, int]:
    return RBTree(ItemOps())


def build(keys: list[int] | range) -> tuple[RBTree[Item, int], dict[int, Item]]:
    tree = make_tree()
    nodes = {}
    for key in keys:
        nodes[key] = tree.insert(Item(key))
    tree.check()
    return tree, nodes


def keys_of(tree: RBTree[Item, int]) -> list[int]:
    return [node.key for node in tree]


def is_unlinked(node: Item) -> bool:
    return (
        node._rb_left is None
        and node._rb_right is None
        and node._rb_parent is None
        and node._rb_red is False
        and node._rb_tree is None
    )


# --- module documentation -------------------------------------------------------------------


def test_module_doctest_examples_hold() -> None:
    result = doctest.testmod(physseg.core.rbtree)
    assert result.attempted > 0
    assert result.failed == 0


def test_direction_constants_match_netbsd() -> None:
    assert (RB_DIR_LEFT, RB_DIR_RIGHT) == (0, 1)


# --- empty tree -----------------------------------------------------------------------------


def test_empty_tree_has_no_nodes_and_finds_nothing() -> None:
    tree = make_tree()
    assert len(tree) == 0
    assert not tree
    assert tree.min() is None
    assert tree.max() is None
    assert tree.find(1) is None
    assert tree.find_geq(1) is None
    assert tree.find_leq(1) is None
    assert tree.iterate(None, RB_DIR_LEFT) is None
    assert tree.iterate(None, RB_DIR_RIGHT) is None
    assert list(tree) == []
    assert list(reversed(tree)) == []
    tree.check()


# --- insert ---------------------------------------------------------------------------------


def test_new_node_is_unlinked_even_without_super_init() -> None:
    assert is_unlinked(Item(5))


def test_insert_returns_the_node_and_links_it() -> None:
    tree = make_tree()
    node = Item(5)
    assert tree.insert(node) is node
    assert node in tree
    assert len(tree) == 1
    assert tree
    tree.check()


def test_duplicate_insert_returns_existing_node_and_inserts_nothing() -> None:
    tree, nodes = build([5, 3, 8])
    duplicate = Item(3)
    assert tree.insert(duplicate) is nodes[3]
    assert duplicate not in tree
    assert is_unlinked(duplicate)
    assert len(tree) == 3
    tree.check()


def test_inserting_a_linked_node_again_returns_it_unchanged() -> None:
    tree, nodes = build([5, 3, 8])
    assert tree.insert(nodes[8]) is nodes[8]
    assert len(tree) == 3
    tree.check()


def test_inserting_a_node_linked_in_another_tree_raises() -> None:
    tree, nodes = build([1, 2])
    other = make_tree()
    with pytest.raises(ValueError, match="another tree"):
        other.insert(nodes[1])
    assert len(other) == 0
    assert nodes[1] in tree
    tree.check()


def test_copy_of_a_linked_node_is_not_a_member_and_can_be_inserted_elsewhere() -> None:
    tree, nodes = build([1, 2, 3])
    clone = copy.copy(nodes[1])
    assert clone not in tree
    other = make_tree()
    assert other.insert(clone) is clone
    other.check()
    tree.check()


def test_ascending_and_descending_inserts_stay_balanced() -> None:
    for keys in (range(1000), range(1000, 0, -1)):
        tree, _ = build(keys)
        assert keys_of(tree) == sorted(keys)


# --- find, find_geq, find_leq ----------------------------------------------------------------


def test_find_returns_the_equal_node_or_none() -> None:
    tree, nodes = build([10, 20, 30, 40])
    assert tree.find(30) is nodes[30]
    assert tree.find(25) is None
    assert tree.find(5) is None
    assert tree.find(45) is None


@pytest.mark.parametrize(
    ("key", "geq", "leq"),
    [
        (20, 20, 20),  # at a key
        (5, 10, None),  # below every key
        (45, None, 40),  # above every key
        (25, 30, 20),  # between keys
        (10, 10, 10),  # at the minimum
        (40, 40, 40),  # at the maximum
    ],
)
def test_find_geq_and_leq(key: int, geq: int | None, leq: int | None) -> None:
    tree, nodes = build([10, 20, 30, 40])
    assert tree.find_geq(key) is (nodes[geq] if geq is not None else None)
    assert tree.find_leq(key) is (nodes[leq] if leq is not None else None)


# --- remove ---------------------------------------------------------------------------------


def test_removing_the_only_node_empties_the_tree() -> None:
    tree, nodes = build([7])
    tree.remove(nodes[7])
    assert len(tree) == 0
    assert tree.min() is None
    assert tree.max() is None
    assert is_unlinked(nodes[7])
    tree.check()


def test_removing_the_root_of_a_larger_tree() -> None:
    tree, _ = build(range(15))
    root = tree._root
    assert root is not None
    tree.remove(root)
    assert root.key not in keys_of(tree)
    assert len(tree) == 14
    tree.check()


def test_removing_a_leaf() -> None:
    tree, nodes = build([2, 1, 3])
    assert nodes[1]._rb_left is None and nodes[1]._rb_right is None
    tree.remove(nodes[1])
    assert keys_of(tree) == [2, 3]
    tree.check()


def test_removing_a_node_with_one_child() -> None:
    tree, nodes = build([2, 1, 3, 4])
    assert nodes[3]._rb_left is None and nodes[3]._rb_right is nodes[4]
    tree.remove(nodes[3])
    assert keys_of(tree) == [1, 2, 4]
    tree.check()


def test_removing_a_node_whose_successor_is_its_right_child() -> None:
    tree, nodes = build([2, 1, 3])
    tree.remove(nodes[2])
    assert keys_of(tree) == [1, 3]
    tree.check()


def test_removing_a_node_whose_successor_is_deeper() -> None:
    tree, nodes = build([4, 2, 6, 1, 3, 5, 7])
    assert nodes[4]._rb_right is nodes[6] and nodes[6]._rb_left is nodes[5]
    tree.remove(nodes[4])
    assert keys_of(tree) == [1, 2, 3, 5, 6, 7]
    tree.check()


def test_min_and_max_follow_removals() -> None:
    tree, nodes = build(range(10))
    for low, high in zip(range(5), range(9, 4, -1), strict=True):
        assert tree.min() is nodes[low]
        assert tree.max() is nodes[high]
        tree.remove(nodes[low])
        tree.remove(nodes[high])
        tree.check()
    assert tree.min() is None
    assert tree.max() is None


def test_removed_node_can_be_inserted_again() -> None:
    tree, nodes = build([1, 2, 3])
    tree.remove(nodes[2])
    assert tree.insert(nodes[2]) is nodes[2]
    assert keys_of(tree) == [1, 2, 3]
    tree.check()


def test_removing_a_node_twice_raises_and_changes_nothing() -> None:
    tree, nodes = build([1, 2, 3])
    tree.remove(nodes[2])
    with pytest.raises(ValueError, match="not in this tree"):
        tree.remove(nodes[2])
    assert keys_of(tree) == [1, 3]
    tree.check()


def test_removing_a_fresh_node_raises() -> None:
    tree, _ = build([1, 2, 3])
    with pytest.raises(ValueError, match="not in this tree"):
        tree.remove(Item(2))
    assert keys_of(tree) == [1, 2, 3]


def test_removing_a_node_of_another_tree_raises() -> None:
    tree, _ = build([1, 2, 3])
    _, other_nodes = build([2])
    with pytest.raises(ValueError, match="not in this tree"):
        tree.remove(other_nodes[2])
    tree.check()


@pytest.mark.parametrize("key", [2, 1], ids=["root", "non-root"])
def test_removing_a_copy_of_a_member_raises(key: int) -> None:
    tree, nodes = build([1, 2, 3])
    with pytest.raises(ValueError, match="not in this tree"):
        tree.remove(copy.copy(nodes[key]))
    assert keys_of(tree) == [1, 2, 3]
    tree.check()


@pytest.mark.parametrize("seed", range(8))
def test_random_inserts_and_removals_keep_every_invariant(seed: int) -> None:
    rng = random.Random(seed)
    tree = make_tree()
    live: dict[int, Item] = {}
    for _ in range(2000):
        key = rng.randrange(400)
        if key in live:
            tree.remove(live.pop(key))
        else:
            live[key] = tree.insert(Item(key))
    tree.check()
    order = list(live)
    rng.shuffle(order)
    for key in order:
        tree.remove(live.pop(key))
        if len(tree) % 37 == 0:
            tree.check()
    assert len(tree) == 0
    tree.check()


# --- membership and iteration ----------------------------------------------------------------


def test_contains_is_identity_not_equality() -> None:
    tree, nodes = build([1, 2])
    assert nodes[1] in tree
    assert Item(1) not in tree
    assert "not a node" not in tree


def test_iterate_from_none_gives_min_for_left_and_max_for_right() -> None:
    tree, nodes = build([3, 1, 2])
    assert tree.iterate(None, RB_DIR_LEFT) is nodes[1]
    assert tree.iterate(None, RB_DIR_RIGHT) is nodes[3]


def test_iterate_walks_the_whole_tree_in_both_directions() -> None:
    keys = list(range(0, 200, 3))
    tree, _ = build(keys)
    forward = []
    node = tree.iterate(None, RB_DIR_LEFT)
    while node is not None:
        forward.append(node.key)
        node = tree.iterate(node, RB_DIR_RIGHT)
    backward = []
    node = tree.iterate(None, RB_DIR_RIGHT)
    while node is not None:
        backward.append(node.key)
        node = tree.iterate(node, RB_DIR_LEFT)
    assert forward == keys
    assert backward == keys[::-1]


def test_iterate_past_either_end_returns_none() -> None:
    tree, nodes = build([1, 2, 3])
    assert tree.iterate(nodes[3], RB_DIR_RIGHT) is None
    assert tree.iterate(nodes[1], RB_DIR_LEFT) is None


@pytest.mark.parametrize("start", [None, 1], ids=["from-none", "from-node"])
def test_iterate_with_a_bad_direction_raises(start: int | None) -> None:
    tree, nodes = build([1])
    with pytest.raises(ValueError, match="direction"):
        tree.iterate(None if start is None else nodes[start], 2)


@pytest.mark.parametrize("direction", [RB_DIR_LEFT, RB_DIR_RIGHT])
def test_iterate_from_a_non_member_raises(direction: int) -> None:
    tree, _ = build([1, 2])
    with pytest.raises(ValueError, match="not in this tree"):
        tree.iterate(Item(1), direction)


def test_iteration_is_ascending_and_reversed_is_descending() -> None:
    keys = random.Random(1).sample(range(10_000), 500)
    tree, _ = build(keys)
    assert keys_of(tree) == sorted(keys)
    assert [node.key for node in reversed(tree)] == sorted(keys, reverse=True)


def test_removing_each_node_as_it_is_yielded_is_safe() -> None:
    tree, _ = build(range(100))
    seen = []
    for node in tree:
        seen.append(node.key)
        if node.key % 2 == 0:
            tree.remove(node)
    assert seen == list(range(100))
    assert keys_of(tree) == list(range(1, 100, 2))
    for node in reversed(tree):
        tree.remove(node)
    assert len(tree) == 0
    tree.check()


# --- clear ----------------------------------------------------------------------------------


def test_clear_unlinks_every_node() -> None:
    tree, nodes = build(range(50))
    tree.clear()
    assert len(tree) == 0
    assert tree.min() is None and tree.max() is None
    assert all(is_unlinked(node) for node in nodes.values())
    tree.check()
    assert tree.insert(nodes[3]) is nodes[3]
    tree.check()


def test_clear_of_an_empty_tree_is_harmless() -> None:
    tree = make_tree()
    tree.clear()
    tree.check()
    assert len(tree) == 0


# --- check() detects corruption -------------------------------------------------------------


def test_check_detects_a_red_root() -> None:
    tree, _ = build([1, 2, 3])
    assert tree._root is not None
    tree._root._rb_red = True
    with pytest.raises(AssertionError, match="root colour"):
        tree.check()


def test_check_detects_a_root_with_a_parent() -> None:
    tree, nodes = build([1, 2, 3])
    assert tree._root is nodes[2]
    nodes[2]._rb_parent = nodes[1]
    with pytest.raises(AssertionError, match="parent links: the root"):
        tree.check()


def test_check_detects_a_red_node_with_a_red_child() -> None:
    tree, nodes = build([2, 1, 3, 0])
    assert nodes[1]._rb_left is nodes[0] and nodes[0]._rb_red and not nodes[1]._rb_red
    nodes[1]._rb_red = True
    with pytest.raises(AssertionError, match="red-red"):
        tree.check()


def test_check_detects_unequal_black_heights() -> None:
    tree, nodes = build([2, 1, 3])
    assert nodes[1]._rb_red and nodes[3]._rb_red
    nodes[1]._rb_red = False
    with pytest.raises(AssertionError, match="black height"):
        tree.check()


def test_check_detects_a_broken_parent_link() -> None:
    tree, nodes = build(range(7))
    assert nodes[4]._rb_parent is not None
    nodes[4]._rb_parent = None
    with pytest.raises(AssertionError, match="parent links"):
        tree.check()


def test_check_detects_nodes_out_of_order() -> None:
    tree, _ = build(range(7))
    assert tree._root is not None
    tree._root.key = 100
    with pytest.raises(AssertionError, match="ordering"):
        tree.check()


def test_check_detects_a_node_that_does_not_record_the_tree() -> None:
    tree, nodes = build(range(7))
    nodes[5]._rb_tree = None
    with pytest.raises(AssertionError, match="ownership"):
        tree.check()


def test_check_detects_a_size_too_small() -> None:
    tree, _ = build(range(7))
    tree._size -= 1
    with pytest.raises(AssertionError, match="size: more than"):
        tree.check()


def test_check_detects_a_size_too_large() -> None:
    tree, _ = build(range(7))
    tree._size += 1
    with pytest.raises(AssertionError, match="size: recorded"):
        tree.check()


def test_check_detects_a_stale_minimum() -> None:
    tree, nodes = build(range(7))
    tree._min = nodes[3]
    with pytest.raises(AssertionError, match="minimum"):
        tree.check()


def test_check_detects_a_stale_maximum() -> None:
    tree, nodes = build(range(7))
    tree._max = nodes[3]
    with pytest.raises(AssertionError, match="maximum"):
        tree.check()


# --- stateful model test --------------------------------------------------------------------


class RBTreeAgainstSortedList(RuleBasedStateMachine):
    """Mixed operations on an RBTree mirrored on a sorted list of keys (the model)."""

    def __init__(self) -> None:
        super().__init__()
        self.tree = make_tree()
        self.keys: list[int] = []
        self.nodes: dict[int, Item] = {}
        self.removed: list[Item] = []

    def _expect(self, index: int) -> Item | None:
        return self.nodes[self.keys[index]] if 0 <= index < len(self.keys) else None

    @rule(key=st.integers(0, 80))
    def insert(self, key: int) -> None:
        node = Item(key)
        got = self.tree.insert(node)
        if key in self.nodes:
            assert got is self.nodes[key]
            assert node not in self.tree
        else:
            assert got is node
            bisect.insort(self.keys, key)
            self.nodes[key] = node

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def insert_duplicate(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys))
        assert self.tree.insert(Item(key)) is self.nodes[key]

    @precondition(lambda self: self.keys)
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(self.keys))
        node = self.nodes.pop(key)
        self.keys.remove(key)
        self.tree.remove(node)
        assert node not in self.tree
        self.removed.append(node)

    @precondition(lambda self: self.removed)
    @rule(data=st.data())
    def remove_non_member(self, data: st.DataObject) -> None:
        node = data.draw(st.sampled_from(self.removed))
        if node in self.tree:
            return
        with pytest.raises(ValueError, match="not in this tree"):
            self.tree.remove(node)

    @rule(key=st.integers(-5, 85))
    def find(self, key: int) -> None:
        assert self.tree.find(key) is self.nodes.get(key)

    @rule(key=st.integers(-5, 85))
    def find_geq(self, key: int) -> None:
        assert self.tree.find_geq(key) is self._expect(bisect.bisect_left(self.keys, key))

    @rule(key=st.integers(-5, 85))
    def find_leq(self, key: int) -> None:
        assert self.tree.find_leq(key) is self._expect(bisect.bisect_right(self.keys, key) - 1)

    @rule(data=st.data(), direction=st.sampled_from([RB_DIR_LEFT, RB_DIR_RIGHT]))
    def iterate(self, data: st.DataObject, direction: int) -> None:
        key = data.draw(st.sampled_from([None, *self.keys]))
        if key is None:
            expected = self._expect(0 if direction == RB_DIR_LEFT else len(self.keys) - 1)
            assert self.tree.iterate(None, direction) is expected
            return
        index = bisect.bisect_left(self.keys, key)
        step = 1 if direction == RB_DIR_RIGHT else -1
        assert self.tree.iterate(self.nodes[key], direction) is self._expect(index + step)

    @invariant()
    def matches_model(self) -> None:
        self.tree.check()
        assert len(self.tree) == len(self.keys)
        assert keys_of(self.tree) == self.keys
        assert self.tree.min() is self._expect(0)
        assert self.tree.max() is self._expect(len(self.keys) - 1)


TestRBTreeAgainstSortedList = RBTreeAgainstSortedList.TestCase
TestRBTreeAgainstSortedList.settings = settings(
    max_examples=60,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
