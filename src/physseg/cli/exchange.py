"""The exchange form of a machine: what ``physseg export`` writes and ``physseg replay
--fresh`` reads back, so a machine can be shared, diffed and rebuilt.

It is a JSON-lines trace (:mod:`physseg.cli.trace`) whose first line is a comment carrying
the machine's configuration, free-list names and boot map as one JSON object::

    # physseg-machine {"version": 1, "backend": "rbtree", "physseg_max": 64, ...}
    {"op": "physload", "addr": "0x8000", "size": "604K", "free_list": 3}
    ...
    {"op": "plug", "addr": "0x100000000", "size": "64M"}

The operation lines are the machine's journal, one row a line. Any trace reader skips the
header (it is a comment); ``replay --fresh`` reads it (:func:`parse_header`) to rebuild the
same machine: same configuration, same names, and the journal replayed on it gives the same
segments, page arrays and extents. The header is read with the trace parser's bounds
(:func:`physseg.cli.trace.load_json`) and every value is checked as the store checks what it
reads (:mod:`physseg.cli.state`).
"""

from __future__ import annotations

import json
from typing import Final

from physseg.cli.state import (
    FreeListName,
    MachineConfig,
    MachineState,
    MapInfo,
    MapRange,
    check_freelists,
    check_map_info,
)
from physseg.cli.trace import MAX_LINE_CHARS, load_json

HEADER_PREFIX: Final = "# physseg-machine "
"""How the header line starts."""
HEADER_VERSION: Final = 1
"""The header's ``"version"``: the one this physseg writes and the newest it reads."""
_CONFIG_FIELDS: Final = ("backend", "physseg_max", "strategy", "nfreelist", "page_shift")


def format_header(state: MachineState) -> str:
    """The header line of ``state`` (no newline): its configuration, free-list names and map,
    byte addresses as hex strings. O(map ranges + free lists).

    >>> format_header(MachineState(MachineConfig()))[:58]
    '# physseg-machine {"version": 1, "backend": "rbtree", "phy'
    """
    config, info = state.config, state.map_info
    record: dict[str, object] = {"version": HEADER_VERSION}
    record.update({name: getattr(config, name) for name in _CONFIG_FIELDS})
    record["freelists"] = [[f.index, f.name, f"{f.limit:#x}"] for f in state.freelists]
    record["map"] = (
        None
        if info is None
        else {
            "name": info.name,
            "source": info.source,
            "format": info.format,
            "ranges": [[f"{r.start:#x}", f"{r.end:#x}", r.kind, r.label] for r in info.ranges],
            "warnings": list(info.warnings),
        }
    )
    return HEADER_PREFIX + json.dumps(record)


def _get(record: dict[str, object], key: str) -> object:
    if key not in record:
        raise ValueError(f"the header has no {key!r}")
    return record[key]


def _text(record: dict[str, object], key: str) -> str:
    value = _get(record, key)
    if not isinstance(value, str):
        raise ValueError(f"the header's {key!r} is not a string")
    return value


def _number(record: dict[str, object], key: str) -> int:
    value = _get(record, key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"the header's {key!r} is not an integer")
    return value


def _items(value: object, what: str, length: int | None = None) -> list[object]:
    if not isinstance(value, list) or (length is not None and len(value) != length):
        raise ValueError(f"{what} is not a list" + ("" if length is None else f" of {length}"))
    return value


def _address(value: object) -> int:
    if not (isinstance(value, str) and value.startswith("0x") and 3 <= len(value) <= 19):
        raise ValueError(f"{value!r:.40} is not a hex address")
    try:
        return int(value, 16)
    except ValueError:
        raise ValueError(f"{value!r:.40} is not a hex address") from None


def parse_header(line: str) -> MachineState | None:
    """The machine a header line describes (configuration, free-list names, map; no
    snapshot, no operations), or ``None`` when ``line`` is not a header.

    Raises ``ValueError`` naming what is wrong: a line too long, JSON out of bounds, another
    version, a missing or mistyped field, a value the store would refuse.
    O(len(line)).

    >>> parse_header(format_header(MachineState(MachineConfig(physseg_max=8)))).config
    MachineConfig(backend='rbtree', physseg_max=8, strategy='bsearch', nfreelist=4, page_shift=12)
    """
    text = line.rstrip("\r\n")
    if not text.startswith(HEADER_PREFIX):
        return None
    if len(text) > MAX_LINE_CHARS:
        raise ValueError(f"the header is longer than {MAX_LINE_CHARS:,} characters")
    record = load_json(text[len(HEADER_PREFIX) :])
    if not isinstance(record, dict):
        raise ValueError("the header is not a JSON object")
    version = _number(record, "version")
    if version != HEADER_VERSION:
        raise ValueError(
            f"the header has version {version}; this physseg reads version {HEADER_VERSION}"
        )
    config = MachineConfig(
        _text(record, "backend"),
        _number(record, "physseg_max"),
        _text(record, "strategy"),
        _number(record, "nfreelist"),
        _number(record, "page_shift"),
    )
    config.check()
    freelists = []
    for entry in _items(_get(record, "freelists"), "'freelists'"):
        index, name, limit = _items(entry, "a free list", 3)
        freelists.append(FreeListName(index, name, _address(limit)))  # type: ignore[arg-type]
    check_freelists(config, tuple(freelists))
    map_info = None
    info = _get(record, "map")
    if info is not None:
        if not isinstance(info, dict):
            raise ValueError("the header's 'map' is not an object")
        ranges = []
        for entry in _items(_get(info, "ranges"), "'ranges'"):
            start, end, kind, label = _items(entry, "a map range", 4)
            ranges.append(MapRange(_address(start), _address(end), kind, label))  # type: ignore[arg-type]
        warnings = _items(_get(info, "warnings"), "'warnings'")
        map_info = MapInfo(
            _text(info, "name"),
            _text(info, "source"),
            _text(info, "format"),
            tuple(ranges),
            tuple(warnings),  # type: ignore[arg-type]
        )
        check_map_info(map_info)
    return MachineState(config, map_info=map_info, freelists=tuple(freelists))
