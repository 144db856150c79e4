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
    checked_range,
    is_blank_or_comment,
    numbered_lines,
    parse_hex,
)
from physseg.memmap.model import MemMap, MemMapParseError, MemRange, classify_label

_LINE = re.compile(
    r"(?P<indent> *)(?P<start>[0-9a-fA-F]+)-(?P<end>[0-9a-fA-F]+) :(?: (?P<name>.*))?",
    re.ASCII,
)


def parse_iomem(text: str, source: str = "<string>") -> MemMap:
    """Parse the text of ``/proc/iomem``; blank lines and ``#`` comments are skipped, every
    other line must be an entry. O(n) in the number of lines.

    Raises ``MemMapParseError`` (with the line number and text) for a line that is not an
    entry, odd indentation, a child nested more than one level below the line before it or
    not inside its parent, a sibling that overlaps or precedes the previous one, an end below
    its start; and, for the whole input, when there are no entries or every address is zero
    (the file was read without root privileges).
    """
    entries: list[tuple[int, str, re.Match[str]]] = []
    for line_no, line in numbered_lines(text):
        if is_blank_or_comment(line):
            continue
        match = _LINE.fullmatch(line.rstrip())
        if match is None:
            raise MemMapParseError(
                source, line_no, line, "not a /proc/iomem entry ('start-end : name')"
            )
        entries.append((line_no, line, match))
    if not entries:
        raise MemMapParseError(source, 0, "", "no /proc/iomem entries")
    if all(int(m["start"], 16) == 0 and int(m["end"], 16) == 0 for _, _, m in entries):
        line_no, line, _ = entries[0]
        raise MemMapParseError(
            source,
            line_no,
            line,
            "every address reads as zero: the kernel hides /proc/iomem addresses from "
            "readers without CAP_SYS_ADMIN; read it as root (sudo cat /proc/iomem)",
        )

    ranges: list[MemRange] = []
    ancestors: list[MemRange] = []
    last_sibling: list[MemRange | None] = [None]
    for line_no, line, match in entries:
        indent = len(match["indent"])
        if indent % 2:
            raise MemMapParseError(source, line_no, line, "odd indentation (2 spaces a level)")
        depth = indent // 2
        if depth > len(ancestors):
            raise MemMapParseError(
                source,
                line_no,
                line,
                "indented more than one level (2 spaces) below the entry before it",
            )
        start = parse_hex(match["start"], source, line_no, line)
        end = parse_hex(match["end"], source, line_no, line, inclusive_end=True)
        start, end = checked_range(start, end, source, line_no, line)
        del ancestors[depth:]
        del last_sibling[depth + 1 :]
        if ancestors:
            parent = ancestors[-1]
            if start < parent.start or end > parent.end:
                raise MemMapParseError(
                    source,
                    line_no,
                    line,
                    f"[{start:#x}-{end:#x}) is not inside its parent "
                    f"[{parent.start:#x}-{parent.end:#x})",
                )
        previous = last_sibling[depth]
        if previous is not None and start < previous.end:
            raise MemMapParseError(
                source,
                line_no,
                line,
                f"[{start:#x}-{end:#x}) overlaps or precedes the previous entry "
                f"[{previous.start:#x}-{previous.end:#x}) at the same level",
            )
        name = (match["name"] or "").rstrip()
        rng = MemRange(start, end, classify_label(name), name, depth)
        ranges.append(rng)
        ancestors.append(rng)
        last_sibling[depth] = rng
        last_sibling.append(None)
    return MemMap(tuple(ranges), "iomem", source)
