"""Format detection and the entry points that dispatch to the parsers: :func:`detect_format`,
:func:`parse` and :func:`load_map`.

Detection, in this order (the first rule that holds wins):

1. The first line that is neither blank nor a ``#`` comment decides the file formats:
   ``<hex>-<hex> : <name>`` without indentation is ``iomem``; ``<path>/<N>/start:``,
   ``/end:`` or ``/type:`` is ``sysfs``; an lsmem header (``RANGE ...``) or a row starting with
   ``0x<hex>-0x<hex>`` and more columns is ``lsmem``.
2. Otherwise the log formats, looking at every line after its log prefix: an e820 table line
   (as :mod:`physseg.memmap.e820` defines it) or ``... physical RAM map:`` header is ``e820``;
   else a ``MEMMAP:`` line is ``netbsd``; else ``Physical memory chunk(s):`` is ``freebsd``;
   else ``total memory = <n>[ <unit>B]`` is ``netbsd``; else ``real memory`` or
   ``avail memory = <bytes> (<n> MB)`` is ``freebsd``; else ``avail memory = <n>[ <unit>B]``
   is ``netbsd``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from physseg.memmap import e820, freebsd, iomem, lsmem, netbsd, sysfs
from physseg.memmap._text import is_blank_or_comment, numbered_lines, strip_log_prefix
from physseg.memmap.model import MemMap, MemMapParseError
from physseg.memmap.samples import find_sample_map, list_sample_maps, sample_map_text

PARSERS: dict[str, Callable[[str, str], MemMap]] = {
    "iomem": iomem.parse_iomem,
    "sysfs": sysfs.parse_sysfs_memmap,
    "lsmem": lsmem.parse_lsmem,
    "e820": e820.parse_e820,
    "netbsd": netbsd.parse_netbsd,
    "freebsd": freebsd.parse_freebsd,
}
"""Format name to parser ``(text, source) -> MemMap``."""

_IOMEM = re.compile(r"[0-9a-fA-F]+-[0-9a-fA-F]+ :(?: .*)?", re.ASCII)
_SYSFS = re.compile(r"(?:[^:]*/)?[0-9]+/(?:start|end|type):.*", re.ASCII)
_LSMEM_ROW = re.compile(r"0x[0-9a-fA-F]+-0x[0-9a-fA-F]+\s+\S.*", re.ASCII)
_NETBSD_TOTAL = re.compile(r"total memory = [0-9]+(?: [KMGTPE]B)?", re.ASCII)
_NETBSD_AVAIL = re.compile(r"avail memory = [0-9]+(?: [KMGTPE]B)?", re.ASCII)
_FREEBSD_SIZE = re.compile(r"(?:real|avail) memory +=  ?[0-9]+ \(", re.ASCII)
_LOG_RULES: tuple[tuple[str, Callable[[str], object]], ...] = (
    ("e820", e820.is_e820_line),
    ("netbsd", lambda body: body.startswith("MEMMAP:")),
    ("freebsd", lambda body: body == "Physical memory chunk(s):"),
    ("netbsd", _NETBSD_TOTAL.fullmatch),
    ("freebsd", _FREEBSD_SIZE.match),
    ("netbsd", _NETBSD_AVAIL.fullmatch),
)
"""(format, predicate on a stripped log line), in priority order."""


def _first_line(text: str) -> str | None:
    for _, line in numbered_lines(text):
        if not is_blank_or_comment(line):
            return line.rstrip()
    return None


def detect_format(text: str, source: str = "<string>") -> str:
    """The format name of ``text`` (a key of :data:`PARSERS`), by the rules in the module
    docstring. O(n) in the text's lines.

    Raises ``MemMapParseError`` (whole input) when no rule matches.
    """
    first = _first_line(text)
    if first is not None:
        if _IOMEM.fullmatch(first):
            return "iomem"
        if _SYSFS.fullmatch(first.strip()):
            return "sysfs"
        if first.split()[0] == "RANGE" or _LSMEM_ROW.fullmatch(first.strip()):
            return "lsmem"
    bodies = [strip_log_prefix(line).strip() for _, line in numbered_lines(text)]
    for name, rule in _LOG_RULES:
        if any(rule(body) for body in bodies):
            return name
    raise MemMapParseError(
        source,
        0,
        "",
        "cannot tell the format (want /proc/iomem, /sys/firmware/memmap, lsmem, a Linux e820 "
        "table, NetBSD MEMMAP:/total memory or FreeBSD memory lines); pass fmt=",
    )


def parse(text: str, fmt: str | None = None, source: str = "<string>") -> MemMap:
    """Parse ``text`` as ``fmt`` (a key of :data:`PARSERS`), detected when ``None``.
    Raises ``MemMapParseError`` from detection or the parser, ``ValueError`` for an unknown
    ``fmt``."""
    if fmt is None:
        fmt = detect_format(text, source)
    parser = PARSERS.get(fmt)
    if parser is None:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(PARSERS)}")
    return parser(text, source)


def load_map(path_or_name: str | Path, fmt: str | None = None) -> MemMap:
    """Load a map from a file, a ``/sys/firmware/memmap``-style directory, or the name of a
    shipped sample (:func:`physseg.memmap.samples.list_sample_maps`); an existing path wins
    over a sample of the same name. ``fmt`` as in :func:`parse` (a directory is always
    ``sysfs``).

    Raises ``FileNotFoundError`` if ``path_or_name`` is neither, ``ValueError`` for a ``fmt``
    other than ``sysfs`` with a directory, and what :func:`parse` raises.
    """
    path = Path(path_or_name)
    if path.is_dir():
        if fmt not in (None, "sysfs"):
            raise ValueError(f"{path} is a directory, which only the sysfs format reads")
        return sysfs.parse_sysfs_memmap_dir(path)
    if path.is_file():
        return parse(path.read_text(encoding="utf-8", errors="replace"), fmt, str(path))
    sample = find_sample_map(str(path_or_name))
    if sample is None:
        names = ", ".join(s.name for s in list_sample_maps())
        raise FileNotFoundError(
            f"{str(path_or_name)!r} is neither a file nor a shipped sample map ({names})"
        )
    return parse(sample_map_text(sample), fmt or sample.format, f"sample:{sample.name}")
