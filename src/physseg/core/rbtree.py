"""A generic intrusive red-black tree with NetBSD rbtree(3) semantics.

The tree stores the caller's own objects: a node class derives from :class:`RBNode`, which only
declares the ``__slots__`` for the linkage, and adds its own slots. Ordering comes from an *ops*
object (:class:`RBTreeOps`, rbtree(3)'s ``rb_tree_ops_t``) with two comparison functions, both
returning a negative number when the node orders *before* the other argument, zero when equal and
a positive number when after. (The 2010 rbtree(3) manual states the signs the other way round;
``rb.c`` and every caller in the kernel use the convention above, and so do we.)

>>> class Item(RBNode):
...     __slots__ = ("key",)
...     def __init__(self, key: int) -> None:
...         self.key = key
>>> class ItemOps:
...     def compare_nodes(self, a: Item, b: Item) -> int:
...         return a.key - b.key
...     def compare_key(self, node: Item, key: int) -> int:
...         return node.key - key
>>> tree: RBTree[Item, int] = RBTree(ItemOps())
>>> for k in (30, 10, 20):
...     _ = tree.insert(Item(k))
>>> [item.key for item in tree]
[10, 20, 30]
>>> tree.find_geq(11).key, tree.find_leq(11).key
(20, 10)
>>> tree.iterate(None, RB_DIR_LEFT).key, tree.iterate(None, RB_DIR_RIGHT).key
(10, 30)

Layout. Children are plain ``None`` when absent (no sentinel object), the colour is a bool
(``_rb_red``), and every linked node also records the tree it belongs to (``_rb_tree``), so that
membership is an O(1) question and a node can never be spliced out of the wrong tree. The tree
caches its minimum and maximum node (rb.c's ``rbt_minmax``) so ``min()``, ``max()`` and
``iterate(None, ...)`` are O(1). An unlinked node has every link ``None``; removal puts a node
back in that state, so a removed node can be inserted again, here or in another tree.

Removal of a node with two children, worked through. The node ``d`` is replaced in place by its
in-order successor ``e`` (the leftmost node of its right subtree, which has no left child);
``e``'s right child ``x`` takes ``e``'s old place and ``e`` takes ``d``'s links and colour::

        b                 b
       / \\               / \\
      a   d       ->     a   e          the colour removed from the tree is e's old colour,
         / \\                / \\         at x's position; if it was black the fix-up walks up
        c   g              c   g        from x (x may be None: its parent is tracked apart)
           /                  /
          e                  x
           \\
            x

Every fix-up loop is iterative and every rotation is O(1), so insert and remove are O(log n)
with at most two rotations for an insert and three for a removal.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, Generic, Protocol, Self, TypeVar

__all__ = ["RB_DIR_LEFT", "RB_DIR_RIGHT", "RBNode", "RBTree", "RBTreeOps"]

RB_DIR_LEFT: Final = 0
"""Direction towards smaller nodes: ``iterate(node, RB_DIR_LEFT)`` is the predecessor."""
RB_DIR_RIGHT: Final = 1
"""Direction towards larger nodes: ``iterate(node, RB_DIR_RIGHT)`` is the successor."""


class RBNode:
    """Base class of tree nodes: declares only the linkage slots (``rb_node_t``).

    Derive from it and add the caller's own ``__slots__``. The links are set to "unlinked" when
    the object is created (in ``__new__``), so a subclass ``__init__`` need not call
    ``super().__init__()``. The links are private to :class:`RBTree`.
    """

    __slots__ = ("_rb_left", "_rb_parent", "_rb_red", "_rb_right", "_rb_tree")

    _rb_left: Self | None
    _rb_right: Self | None
    _rb_parent: Self | None
    _rb_red: bool
    _rb_tree: RBTree[Any, Any] | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        """Create an unlinked node; the arguments are for the subclass ``__init__``. O(1)."""
        self = super().__new__(cls)
        self._rb_left = None
        self._rb_right = None
        self._rb_parent = None
        self._rb_red = False
        self._rb_tree = None
        return self


N = TypeVar("N", bound=RBNode)
K = TypeVar("K")
_N_contra = TypeVar("_N_contra", bound=RBNode, contravariant=True)
_K_contra = TypeVar("_K_contra", contravariant=True)


class RBTreeOps(Protocol[_N_contra, _K_contra]):
    """The comparison functions a tree is built with (``rb_tree_ops_t``).

    Both must define one strict total order, consistent with each other, and must not change
    while a node is linked.
    """

    def compare_nodes(self, a: _N_contra, b: _N_contra, /) -> int:
        """Negative if ``a`` orders before ``b``, zero if they are equal, positive if after."""
        ...

    def compare_key(self, node: _N_contra, key: _K_contra, /) -> int:
        """Negative if ``node`` orders before ``key``, zero if equal, positive if after."""
        ...


class RBTree(Generic[N, K]):
    """A red-black tree of caller-owned nodes (``rb_tree_t``); ``n`` below is ``len(tree)``.

    Equal nodes (``compare_nodes == 0``) are never both present. Iteration yields the nodes in
    ascending order; removing the node just yielded is safe, other changes made while iterating
    may end the iteration early or skip nodes (never corrupt the tree).
    """

    __slots__ = ("_compare_key", "_compare_nodes", "_max", "_min", "_root", "_size")

    def __init__(self, ops: RBTreeOps[N, K]) -> None:
        """An empty tree ordered by ``ops`` (``rb_tree_init``). O(1)."""
        self._compare_nodes = ops.compare_nodes
        self._compare_key = ops.compare_key
        self._root: N | None = None
        self._min: N | None = None
        self._max: N | None = None
        self._size = 0

    def __len__(self) -> int:
        """Number of linked nodes. O(1)."""
        return self._size

    def __bool__(self) -> bool:
        """True if the tree holds at least one node. O(1)."""
        return self._size != 0

    def __contains__(self, node: object) -> bool:
        """True if ``node`` itself (not merely an equal node) is linked in this tree. O(1).

        Any object may be asked about; objects that are not :class:`RBNode` are never members.
        """
        if not isinstance(node, RBNode) or node._rb_tree is not self:
            return False
        parent = node._rb_parent
        if parent is None:
            return self._root is node
        return parent._rb_left is node or parent._rb_right is node

    def __iter__(self) -> Iterator[N]:
        """Yield the nodes in ascending order. O(n) for the whole walk, O(1) amortised a step."""
        node = self._min
        while node is not None:
            nxt = node._rb_right
            if nxt is not None:
                child = nxt._rb_left
                while child is not None:
                    nxt = child
                    child = nxt._rb_left
            else:
                child = node
                nxt = node._rb_parent
                while nxt is not None and nxt._rb_right is child:
                    child = nxt
                    nxt = nxt._rb_parent
            yield node
            node = nxt

    def __reversed__(self) -> Iterator[N]:
        """Yield the nodes in descending order. O(n) for the whole walk, O(1) amortised a step."""
        node = self._max
        while node is not None:
            nxt = node._rb_left
            if nxt is not None:
                child = nxt._rb_right
                while child is not None:
                    nxt = child
                    child = nxt._rb_right
            else:
                child = node
                nxt = node._rb_parent
                while nxt is not None and nxt._rb_left is child:
                    child = nxt
                    nxt = nxt._rb_parent
            yield node
            node = nxt

    def min(self) -> N | None:
        """The smallest node, or ``None`` if the tree is empty (``RB_TREE_MIN``). O(1)."""
        return self._min

    def max(self) -> N | None:
        """The largest node, or ``None`` if the tree is empty (``RB_TREE_MAX``). O(1)."""
        return self._max

    def find(self, key: K) -> N | None:
        """The node comparing equal to ``key``, or ``None`` (``rb_tree_find_node``). O(log n).

        Makes at most one ``compare_key`` call per level of the tree.
        """
        compare = self._compare_key
        node = self._root
        while node is not None:
            diff = compare(node, key)
            if diff < 0:
                node = node._rb_right
            elif diff:
                node = node._rb_left
            else:
                return node
        return None

    def find_geq(self, key: K) -> N | None:
        """The node equal to ``key``, else the smallest node after it, else ``None``. O(log n).

        (``rb_tree_find_node_geq``.)
        """
        compare = self._compare_key
        node = self._root
        best = None
        while node is not None:
            diff = compare(node, key)
            if diff < 0:
                node = node._rb_right
            elif diff:
                best = node
                node = node._rb_left
            else:
                return node
        return best

    def find_leq(self, key: K) -> N | None:
        """The node equal to ``key``, else the largest node before it, else ``None``. O(log n).

        (``rb_tree_find_node_leq``.)
        """
        compare = self._compare_key
        node = self._root
        best = None
        while node is not None:
            diff = compare(node, key)
            if diff < 0:
                best = node
                node = node._rb_right
            elif diff:
                node = node._rb_left
            else:
                return node
        return best

    def iterate(self, node: N | None, direction: int) -> N | None:
        """Step from ``node`` in ``direction`` (``rb_tree_iterate``). O(log n), O(1) amortised.

        With ``node=None``: the minimum for :data:`RB_DIR_LEFT`, the maximum for
        :data:`RB_DIR_RIGHT` (``None`` if the tree is empty). Otherwise the predecessor
        (``RB_DIR_LEFT``) or successor (``RB_DIR_RIGHT``) of ``node``, or ``None`` past the end.

        Raises ``ValueError`` if ``direction`` is neither constant or ``node`` is not linked in
        this tree.
        """
        if node is None:
            if direction == RB_DIR_LEFT:
                return self._min
            if direction == RB_DIR_RIGHT:
                return self._max
        elif node._rb_tree is not self or (
            self._root is not node
            if (parent := node._rb_parent) is None
            else parent._rb_left is not node and parent._rb_right is not node
        ):
            raise ValueError("iterate: node is not in this tree")
        elif direction == RB_DIR_RIGHT:
            nxt = node._rb_right
            if nxt is not None:
                child = nxt._rb_left
                while child is not None:
                    nxt = child
                    child = nxt._rb_left
                return nxt
            while parent is not None and parent._rb_right is node:
                node = parent
                parent = parent._rb_parent
            return parent
        elif direction == RB_DIR_LEFT:
            nxt = node._rb_left
            if nxt is not None:
                child = nxt._rb_right
                while child is not None:
                    nxt = child
                    child = nxt._rb_right
                return nxt
            while parent is not None and parent._rb_left is node:
                node = parent
                parent = parent._rb_parent
            return parent
        raise ValueError(
            f"iterate: direction must be RB_DIR_LEFT or RB_DIR_RIGHT, not {direction!r}"
        )

    def insert(self, node: N) -> N:
        """Link ``node`` and return it; if an equal node is present, return that one instead.

        (``rb_tree_insert_node``.) When an equal node is found nothing changes and ``node`` stays
        unlinked. Inserting a node already linked in this tree returns it unchanged. O(log n):
        one ``compare_nodes`` call per level, at most two rotations.

        Raises ``ValueError`` if ``node`` is linked in another tree.
        """
        owner = node._rb_tree
        if owner is not None and node in owner:
            if owner is self:
                return node
            raise ValueError("insert: node is linked in another tree")
        compare = self._compare_nodes
        parent = self._root
        if parent is None:
            node._rb_left = node._rb_right = node._rb_parent = None
            node._rb_red = False
            node._rb_tree = self
            self._root = self._min = self._max = node
            self._size = 1
            return node
        while True:
            diff = compare(parent, node)
            if diff < 0:
                child = parent._rb_right
                if child is None:
                    parent._rb_right = node
                    if parent is self._max:
                        self._max = node
                    break
            elif diff:
                child = parent._rb_left
                if child is None:
                    parent._rb_left = node
                    if parent is self._min:
                        self._min = node
                    break
            else:
                return parent
            parent = child
        node._rb_left = node._rb_right = None
        node._rb_parent = parent
        node._rb_red = True
        node._rb_tree = self
        self._size += 1
        if parent._rb_red:
            self._insert_fixup(node, parent)
        return node

    def _insert_fixup(self, node: N, parent: N) -> None:
        """Restore the colours after linking red ``node`` under red ``parent``. O(log n)."""
        while True:
            grand = parent._rb_parent
            assert grand is not None  # a red parent is never the root
            if parent is grand._rb_left:
                uncle = grand._rb_right
                if uncle is not None and uncle._rb_red:
                    parent._rb_red = uncle._rb_red = False
                    great = grand._rb_parent
                    if great is None:
                        return
                    grand._rb_red = True
                    if not great._rb_red:
                        return
                    node = grand
                    parent = great
                    continue
                if node is parent._rb_right:
                    self._rotate_left(parent)
                    parent = node
                parent._rb_red = False
                grand._rb_red = True
                self._rotate_right(grand)
                return
            uncle = grand._rb_left
            if uncle is not None and uncle._rb_red:
                parent._rb_red = uncle._rb_red = False
                great = grand._rb_parent
                if great is None:
                    return
                grand._rb_red = True
                if not great._rb_red:
                    return
                node = grand
                parent = great
                continue
            if node is parent._rb_left:
                self._rotate_right(parent)
                parent = node
            parent._rb_red = False
            grand._rb_red = True
            self._rotate_left(grand)
            return

    def remove(self, node: N) -> None:
        """Unlink ``node`` (``rb_tree_remove_node``) and reset its links. O(log n).

        Makes no comparison calls and at most three rotations. Afterwards ``node`` is unlinked
        and may be inserted again.

        Raises ``ValueError`` (changing nothing) if ``node`` is not linked in this tree, which
        includes removing it a second time.
        """
        if node._rb_tree is not self:
            raise ValueError("remove: node is not in this tree")
        parent = node._rb_parent
        if parent is None:
            if self._root is not node:
                raise ValueError("remove: node is not in this tree")
        elif parent._rb_left is not node and parent._rb_right is not node:
            raise ValueError("remove: node is not in this tree")
        left = node._rb_left
        right = node._rb_right
        child_parent: N | None
        replacement: N | None
        # The minimum has no left child, so its successor is its right child (a red leaf) or
        # its parent; symmetrically for the maximum.
        if node is self._min:
            self._min = right if right is not None else parent
        if node is self._max:
            self._max = left if left is not None else parent
        if left is not None and right is not None:
            successor = right
            child = right._rb_left
            while child is not None:
                successor = child
                child = successor._rb_left
            child = successor._rb_right
            removed_red = successor._rb_red
            if successor is right:
                child_parent = successor
            else:
                child_parent = successor._rb_parent
                assert child_parent is not None
                child_parent._rb_left = child
                if child is not None:
                    child._rb_parent = child_parent
                successor._rb_right = right
                right._rb_parent = successor
            successor._rb_left = left
            left._rb_parent = successor
            successor._rb_parent = parent
            successor._rb_red = node._rb_red
            replacement = successor
        else:
            child = left if left is not None else right
            child_parent = parent
            removed_red = node._rb_red
            if child is not None:
                child._rb_parent = parent
            replacement = child
        if parent is None:
            self._root = replacement
        elif parent._rb_left is node:
            parent._rb_left = replacement
        else:
            parent._rb_right = replacement
        node._rb_left = node._rb_right = node._rb_parent = None
        node._rb_red = False
        node._rb_tree = None
        self._size -= 1
        if not removed_red:
            if child is not None:
                # A lone child under a black node is always a red leaf: recolour and done.
                child._rb_red = False
            elif child_parent is not None:
                self._remove_fixup(child_parent, child_parent._rb_left is None)

    def _remove_fixup(self, parent: N, at_left: bool) -> None:
        """Restore black heights after a black node left an empty subtree of ``parent``.

        ``at_left`` says which side is one black short. O(log n), at most three rotations.
        """
        while True:
            if at_left:
                sibling = parent._rb_right
                assert sibling is not None  # the other side has black height >= 1
                if sibling._rb_red:
                    sibling._rb_red = False
                    parent._rb_red = True
                    self._rotate_left(parent)
                    sibling = parent._rb_right
                    assert sibling is not None
                near = sibling._rb_left
                far = sibling._rb_right
                if far is not None and far._rb_red:
                    self._rotate_left(parent)
                elif near is not None and near._rb_red:
                    self._rotate_right(sibling)
                    self._rotate_left(parent)
                    far = sibling
                    sibling = near
                else:
                    sibling._rb_red = True
                    if parent._rb_red:
                        parent._rb_red = False
                        return
                    grand = parent._rb_parent
                    if grand is None:
                        return
                    at_left = grand._rb_left is parent
                    parent = grand
                    continue
            else:
                sibling = parent._rb_left
                assert sibling is not None
                if sibling._rb_red:
                    sibling._rb_red = False
                    parent._rb_red = True
                    self._rotate_right(parent)
                    sibling = parent._rb_left
                    assert sibling is not None
                near = sibling._rb_right
                far = sibling._rb_left
                if far is not None and far._rb_red:
                    self._rotate_right(parent)
                elif near is not None and near._rb_red:
                    self._rotate_left(sibling)
                    self._rotate_right(parent)
                    far = sibling
                    sibling = near
                else:
                    sibling._rb_red = True
                    if parent._rb_red:
                        parent._rb_red = False
                        return
                    grand = parent._rb_parent
                    if grand is None:
                        return
                    at_left = grand._rb_left is parent
                    parent = grand
                    continue
            # The sibling now sits where parent was: it takes parent's colour, and both of its
            # children (parent and the old far nephew) become black.
            sibling._rb_red = parent._rb_red
            parent._rb_red = False
            far._rb_red = False
            return

    def _rotate_left(self, node: N) -> None:
        """Make ``node``'s right child its parent, keeping the in-order sequence. O(1)."""
        pivot = node._rb_right
        assert pivot is not None
        inner = pivot._rb_left
        node._rb_right = inner
        if inner is not None:
            inner._rb_parent = node
        parent = node._rb_parent
        pivot._rb_parent = parent
        if parent is None:
            self._root = pivot
        elif parent._rb_left is node:
            parent._rb_left = pivot
        else:
            parent._rb_right = pivot
        pivot._rb_left = node
        node._rb_parent = pivot

    def _rotate_right(self, node: N) -> None:
        """Make ``node``'s left child its parent, keeping the in-order sequence. O(1)."""
        pivot = node._rb_left
        assert pivot is not None
        inner = pivot._rb_right
        node._rb_left = inner
        if inner is not None:
            inner._rb_parent = node
        parent = node._rb_parent
        pivot._rb_parent = parent
        if parent is None:
            self._root = pivot
        elif parent._rb_right is node:
            parent._rb_right = pivot
        else:
            parent._rb_left = pivot
        pivot._rb_right = node
        node._rb_parent = pivot

    def clear(self) -> None:
        """Unlink every node (resetting its links) and leave the tree empty. O(n)."""
        stack = [self._root] if self._root is not None else []
        while stack:
            node = stack.pop()
            if node._rb_left is not None:
                stack.append(node._rb_left)
            if node._rb_right is not None:
                stack.append(node._rb_right)
            node._rb_left = node._rb_right = node._rb_parent = None
            node._rb_red = False
            node._rb_tree = None
        self._root = self._min = self._max = None
        self._size = 0

    def check(self) -> None:
        """Verify every invariant of the tree. O(n) time and O(log n) extra space if valid.

        Raises ``AssertionError`` whose message names the first broken invariant: node
        ownership, parent links, root colour, red-red, black height, strict in-order ascent
        under ``compare_nodes``, the cached minimum/maximum, or the size. A corrupted tree whose
        child links form a cycle is reported as a size mismatch rather than looping.
        """
        root = self._root
        if root is not None:
            if root._rb_parent is not None:
                raise AssertionError("parent links: the root has a parent")
            if root._rb_red:
                raise AssertionError("root colour: the root is red")
        compare = self._compare_nodes
        stack: list[tuple[N, int]] = []
        node = root
        blacks = 0
        leaf_blacks = -1
        reached = 0
        previous: N | None = None
        first: N | None = None
        while stack or node is not None:
            while node is not None:
                reached += 1
                if reached > self._size:
                    raise AssertionError(
                        f"size: more than the recorded {self._size} nodes are reachable"
                    )
                if node._rb_tree is not self:
                    raise AssertionError(f"ownership: {node!r} does not record this tree")
                if not node._rb_red:
                    blacks += 1
                for child in (node._rb_left, node._rb_right):
                    if child is None:
                        if leaf_blacks < 0:
                            leaf_blacks = blacks
                        elif blacks != leaf_blacks:
                            raise AssertionError(
                                f"black height: a path through {node!r} has {blacks} black "
                                f"nodes, another has {leaf_blacks}"
                            )
                        continue
                    if child._rb_parent is not node:
                        raise AssertionError(
                            f"parent links: {child!r} is a child of {node!r} but its parent "
                            f"link says {child._rb_parent!r}"
                        )
                    if node._rb_red and child._rb_red:
                        raise AssertionError(f"red-red: red {node!r} has red child {child!r}")
                stack.append((node, blacks))
                node = node._rb_left
            node, blacks = stack.pop()
            if previous is None:
                first = node
            elif compare(previous, node) >= 0:
                raise AssertionError(
                    f"ordering: in-order {previous!r} does not compare below {node!r}"
                )
            previous = node
            node = node._rb_right
        if reached != self._size:
            raise AssertionError(f"size: recorded {self._size}, reachable {reached}")
        if self._min is not first:
            raise AssertionError(f"minimum: cached {self._min!r}, actual {first!r}")
        if self._max is not previous:
            raise AssertionError(f"maximum: cached {self._max!r}, actual {previous!r}")
