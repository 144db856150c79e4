"""Parser for Linux ``/proc/iomem`` (``kernel/resource.c``, ``r_show``).

Each line is ``"%*s%0*llx-%0*llx : %s"``: two spaces of indentation per nesting level, the
start and the **inclusive** end in hex (at least 8 digits, more above 4 GiB), then the
resource name. The file is a pre-order walk of the resource tree, so a child lies inside its
parent and siblings are sorted and disjoint; the parser checks both.

Every entry becomes a ``MemRange`` with its ``depth`` (top-level entries have depth 0), its name
as ``label`` and a kind from :func:`physseg.memmap.model.classify_label`: top-level
``System RAM`` is ``USABLE``; ``System RAM (virtio_mem)`` / ``System RAM (kmem)``, which Linux
nests under the owning device (``virtio0``, ``dax0.0``), are ``HOTPLUG``; children such as
``Kernel code`` or PCI BARs are ``OTHER``. ``MemMap.usable()`` merges the ``USABLE`` ranges.

Readers without ``CAP_SYS_ADMIN`` see every address as zero; such a file is refused with a
message saying to read it as root.
"""

from __future__ import annotations

import re

from physseg.memmap._text import (
    MapText,
    is_blank_or_comment,
    numbered_lines,
    parse_hex,
)
from physseg.memmap.model import (
    MemMap,
    MemMapParseError,
    RangeKind,
    RangeTable,
    classify_label,
)

_LINE = re.compile(
    r"(?P<indent> *)(?P<start>[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]+) :(?: (?P<name>.*))?",
    re.ASCII,
)


def parse_iomem(text: MapText, source: str = "<string>") -> MemMap:
    """Parse the text of ``/proc/iomem`` (a string, or its lines read from a stream: see
    :data:`physseg.memmap._text.MapText`), one line at a time; blank lines and ``#`` comments
    are skipped, every other line must be an entry. O(n) time in the number of lines; memory
    O(1) per entry beyond the compact :class:`~physseg.memmap.model.RangeTable` of the result.

    Raises ``MemMapParseError`` (with the line number and text) at the first line that is not
    an entry, has odd indentation, is nested more than one level below the line before it or
    not inside its parent, overlaps or precedes the previous sibling, or ends below its start;
    and, for the whole input, when there are no entries or every address is zero (the file was
    read without root privileges; a structural error among leading all-zero entries is held
    back until a non-zero entry shows the file was read as root).
    """
    table = RangeTable()
    kinds: dict[str, RangeKind] = {}
    ancestors: list[tuple[int, int]] = []
    last_sibling: list[tuple[int, int] | None] = [None]
    all_zero = True
    first: tuple[int, str] | None = None
    held: MemMapParseError | None = None
    for line_no, line in numbered_lines(text, source):
        if is_blank_or_comment(line):
            continue
        match = _LINE.fullmatch(line.rstrip())
        if match is None:
            raise MemMapParseError(
                source, line_no, line, "not a /proc/iomem entry ('start-end : name')"
            )
        if first is None:
            first = (line_no, line)
        start = parse_hex(match["start"], source, line_no, line)
        end = parse_hex(match["end"], source, line_no, line, inclusive_end=True)
        zero = start == 0 and end == 1
        if all_zero and not zero:
            all_zero = False
            if held is not None:
                raise held
        name = (match["name"] or "").rstrip()
        try:
            depth = _place(len(match["indent"]), start, end, ancestors, last_sibling)
            kind = kinds.get(name)
            if kind is None:
                kind = kinds[name] = classify_label(name)
            table.append(start, end, kind, name, depth, line_no=line_no)
        except _Misplaced as exc:
            error = MemMapParseError(source, line_no, line, exc.reason)
            if not all_zero:
                raise error from None
            held = held or error
    if first is None:
        raise MemMapParseError(source, 0, "", "no /proc/iomem entries")
    if all_zero:
        raise MemMapParseError(
            source,
            first[0],
            first[1],
            "every address reads as zero: the kernel hides /proc/iomem addresses from "
            "readers without CAP_SYS_ADMIN; read it as root (sudo cat /proc/iomem)",
        )
    return MemMap(table, "iomem", source)


class _Misplaced(Exception):
    """An entry that does not fit the tree where its indentation puts it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _place(
    indent: int,
    start: int,
    end: int,
    ancestors: list[tuple[int, int]],
    last_sibling: list[tuple[int, int] | None],
) -> int:
    """Check ``[start, end)`` against its parent and previous sibling, record it as both for
    the lines after it, and return its depth; ``_Misplaced`` (nothing recorded) if it does
    not fit."""
    if indent % 2:
        raise _Misplaced("odd indentation (2 spaces a level)")
    depth = indent // 2
    if depth > len(ancestors):
        raise _Misplaced("indented more than one level (2 spaces) below the entry before it")
    if start >= end:
        raise _Misplaced(f"range [{start:#x}-{end:#x}) is empty or reversed")
    if depth:
        parent_start, parent_end = ancestors[depth - 1]
        if start < parent_start or end > parent_end:
            raise _Misplaced(
                f"[{start:#x}-{end:#x}) is not inside its parent "
                f"[{parent_start:#x}-{parent_end:#x})"
            )
    previous = last_sibling[depth] if depth < len(last_sibling) else None
    if previous is not None and start < previous[1]:
        raise _Misplaced(
            f"[{start:#x}-{end:#x}) overlaps or precedes the previous entry "
            f"[{previous[0]:#x}-{previous[1]:#x}) at the same level"
        )
    del ancestors[depth:]
    del last_sibling[depth + 1 :]
    ancestors.append((start, end))
    last_sibling[depth] = (start, end)
    last_sibling.append(None)
    return depth
