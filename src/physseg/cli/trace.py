"""Traces of physical-memory operations: the two file formats, parsing with line numbers,
writing, and replaying a trace on a :class:`physseg.PhysMem`.

A trace is one operation per line. Addresses and sizes are **bytes** (anything
:func:`physseg.cli.units.parse_bytes` reads: ``0x1000``, ``4096``, ``64M``); every range is
``[addr, addr + size)`` and must be page-aligned when it is applied.

Text format (blank lines and ``#`` comments ignored, a comment may end any line)::

    physload ADDR SIZE [avail_start=ADDR] [avail_end=ADDR] [free_list=N]   # boot time
    init [steal=yes|no]                                                    # uvm_page_init
    plug ADDR SIZE
    unplug ADDR SIZE
    find ADDR [expect=managed|hole]

JSON lines: one object per line with the same names, e.g.
``{"op": "plug", "addr": "0x100000000", "size": "128M"}``; quantities are JSON integers or
strings, ``steal`` a boolean, ``free_list`` an integer.

Every read is bounded, whatever the input: a line is at most :data:`MAX_LINE_CHARS` characters
(:func:`bounded_lines` never holds more of a longer one), a JSON value nests at most
:data:`MAX_JSON_DEPTH` deep and its integers have at most :data:`MAX_INT_DIGITS` digits
(:func:`load_json`), and a quantity is at most :data:`MAX_QUANTITY` bytes. Anything beyond is a
``TraceParseError`` naming the line, never a ``RecursionError`` or a huge integer.
"""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePath
from typing import Final, TextIO

from physseg.cli.units import UnitError, format_addr, format_quantity, parse_bytes
from physseg.errors import InvalidArgumentError, PhysSegError, Reason
from physseg.physmem import PhysMem, Segment
from physseg.textinput import QUOTE_CHARS, quote_input

TEXT: Final = "text"
JSONL: Final = "jsonl"
FORMATS: Final = (TEXT, JSONL)

EXPECT_VALUES: Final = ("managed", "hole")
_TRUE: Final = ("yes", "true", "1", "on")
_FALSE: Final = ("no", "false", "0", "off")
_JSONL_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")
_TEXT_SUFFIXES: Final = (".trace", ".txt")

MAX_LINE_CHARS: Final = 2 << 20
"""The longest line (characters, newline excluded) a trace may have. Operation lines are under
200 characters; the bound is set by the header line of ``physseg export`` (a machine's map,
at most about 1.6 MiB of JSON under the store's limits), and it bounds the memory one line can
take."""
MAX_JSON_DEPTH: Final = 16
"""How deep arrays and objects may nest in one JSON line (an operation is 1, the export
header 4): a deeper line is refused before ``json`` recurses into it."""
MAX_INT_DIGITS: Final = 40
"""Digits a JSON integer may have (``2**64`` has 20): a longer one is refused before it is
converted."""
MAX_QUANTITY: Final = 1 << 64
"""The largest address or size in bytes a trace may name (the 64-bit physical address space)."""
_SKIP_CHARS: Final = 1 << 16
"""Characters read at a time while skipping the rest of an over-long line."""
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP: Final = {"[": 1, "{": 1, "]": -1, "}": -1}


@dataclass(frozen=True, slots=True)
class Plug:
    """Hot-plug ``[addr, addr + size)`` (``PhysMem.plug``)."""

    addr: int
    size: int


@dataclass(frozen=True, slots=True)
class Unplug:
    """Hot-unplug ``[addr, addr + size)`` (``PhysMem.unplug``)."""

    addr: int
    size: int


@dataclass(frozen=True, slots=True)
class Find:
    """Look ``addr`` up (``PhysMem.find``); with ``expect`` (``"managed"`` or ``"hole"``) the
    line fails when the answer differs."""

    addr: int
    expect: str | None = None


@dataclass(frozen=True, slots=True)
class PhysLoad:
    """Load ``[addr, addr + size)`` at boot (``PhysMem.load``) with the free pages
    ``[avail_start, avail_end)`` (default: the whole range) on ``free_list``."""

    addr: int
    size: int
    avail_start: int | None = None
    avail_end: int | None = None
    free_list: int = 0


@dataclass(frozen=True, slots=True)
class Init:
    """Switch to run time (``PhysMem.boot(steal=steal)``)."""

    steal: bool = True


TraceOp = Plug | Unplug | Find | PhysLoad | Init
"""One operation of a trace."""

_OP_NAMES: Final[dict[type, str]] = {
    Plug: "plug",
    Unplug: "unplug",
    Find: "find",
    PhysLoad: "physload",
    Init: "init",
}
_POSITIONAL: Final[dict[str, tuple[str, ...]]] = {
    "plug": ("addr", "size"),
    "unplug": ("addr", "size"),
    "find": ("addr",),
    "physload": ("addr", "size"),
    "init": (),
}
_OPTIONS: Final[dict[str, tuple[str, ...]]] = {
    "plug": (),
    "unplug": (),
    "find": ("expect",),
    "physload": ("avail_start", "avail_end", "free_list"),
    "init": ("steal",),
}


def op_name(op: TraceOp) -> str:
    """The operation's keyword (``"plug"``, ``"unplug"``, ``"find"``, ``"physload"``,
    ``"init"``)."""
    return _OP_NAMES[type(op)]


class TraceParseError(ValueError):
    """A trace line could not be parsed.

    Attributes ``source``, ``line_no`` (1-based), ``line_text`` (without its newline) and
    ``reason``, both as :func:`shorten` quotes them; the message is
    ``"<source>:<line_no>: <reason>: <line_text>"``.
    """

    def __init__(self, source: str, line_no: int, line_text: str, reason: str) -> None:
        self.source = source
        self.line_no = line_no
        self.line_text = shorten(line_text)
        self.reason = shorten(reason)
        super().__init__(f"{shorten(source)}:{line_no}: {self.reason}: {self.line_text}")


SHOWN_CHARS: Final = QUOTE_CHARS
"""Characters of a line a message quotes (a longer line is cut, with its length in bytes)."""


def shorten(text: str) -> str:
    """``text`` as a one-line message may quote it: :func:`physseg.textinput.quote_input`
    (control characters escaped, at most :data:`SHOWN_CHARS` characters, a longer text cut
    and followed by its length in bytes). O(len(text)). Raises nothing.

    >>> shorten("plug 4G\x1b[2J 64M")
    'plug 4G\\\\x1b[2J 64M'
    """
    return quote_input(text, max_chars=SHOWN_CHARS)


class TraceCheckError(Exception):
    """A ``find`` line's ``expect=`` did not hold; the message says what was found."""


# --------------------------------------------------------------------------- parsing
def _quantity(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"{name} must be a byte quantity, not {value!r}")
    number = parse_bytes(value) if isinstance(value, str) else value
    if number < 0:
        raise ValueError(f"{name} must be >= 0, not {number}")
    if number > MAX_QUANTITY:
        raise ValueError(f"{name} must be at most 2**64 bytes")
    return number


def _free_list(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
        return value
    raise ValueError(f"free_list must be a non-negative integer below 1000, not {value!r}")


def _steal(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise ValueError(f"steal must be yes or no, not {value!r}")


def _expect(value: object) -> str:
    if isinstance(value, str) and value in EXPECT_VALUES:
        return value
    raise ValueError(f"expect must be managed or hole, not {value!r}")


def _check_name(name: str) -> None:
    if name not in _POSITIONAL:
        raise ValueError(f"unknown operation {name!r} (expected one of: {', '.join(_POSITIONAL)})")


def _build(name: str, values: dict[str, object]) -> TraceOp:
    """Make the operation ``name`` from named raw values (strings from the text format,
    JSON values from JSON lines). Raises ``ValueError`` with the reason."""
    _check_name(name)
    for required in _POSITIONAL[name]:
        if required not in values:
            raise ValueError(f"{name} needs {required}")
    allowed = _POSITIONAL[name] + _OPTIONS[name]
    for key in values:
        if key not in allowed:
            raise ValueError(f"{name} takes no {key!r} (it takes: {', '.join(allowed) or 'none'})")
    if name == "init":
        return Init(_steal(values.get("steal", True)))
    addr = _quantity("addr", values["addr"])
    if name == "find":
        expect = values.get("expect")
        return Find(addr, None if expect is None else _expect(expect))
    size = _quantity("size", values["size"])
    if size == 0:
        raise ValueError(f"{name} needs a size > 0")
    if name == "plug":
        return Plug(addr, size)
    if name == "unplug":
        return Unplug(addr, size)
    avail_start = values.get("avail_start")
    avail_end = values.get("avail_end")
    return PhysLoad(
        addr,
        size,
        None if avail_start is None else _quantity("avail_start", avail_start),
        None if avail_end is None else _quantity("avail_end", avail_end),
        _free_list(values.get("free_list", 0)),
    )


def _text_values(name: str, words: list[str]) -> dict[str, object]:
    _check_name(name)
    positional = _POSITIONAL[name]
    values: dict[str, object] = {}
    plain = [word for word in words if "=" not in word]
    if len(plain) != len(positional) or any("=" in w for w in words[: len(positional)]):
        usage = " ".join([name, *(p.upper() for p in positional)])
        raise ValueError(f"{name} takes {len(positional)} value(s): {usage}")
    values.update(zip(positional, plain, strict=True))
    for word in words[len(positional) :]:
        key, _, value = word.partition("=")
        if key in values:
            raise ValueError(f"{key} given twice")
        values[key] = value
    return values


def parse_line(
    line: str, fmt: str = TEXT, *, line_no: int = 0, source: str = "<trace>"
) -> TraceOp | None:
    """Parse one trace line in ``fmt`` (``"text"`` or ``"jsonl"``); ``None`` for a blank or
    comment line (a JSON line may not carry a comment, but a ``#`` line is skipped in both).

    Raises ``TraceParseError`` (with ``source`` and ``line_no``) naming what is wrong: an
    unknown operation, a missing or extra value, a bad quantity, a zero size, an unknown
    option, a line longer than :data:`MAX_LINE_CHARS`, JSON nested deeper than
    :data:`MAX_JSON_DEPTH` or an integer longer than :data:`MAX_INT_DIGITS` digits.
    O(len(line)).

    >>> parse_line("plug 4G 128M")
    Plug(addr=4294967296, size=134217728)
    >>> parse_line('{"op": "find", "addr": "0x1000", "expect": "hole"}', "jsonl")
    Find(addr=4096, expect='hole')
    """
    text = line.rstrip("\r\n")
    if len(text) > MAX_LINE_CHARS:
        # only the line's start is quoted: its length is unknown (the reader stopped at the
        # limit), and a byte count of the part read would mislead
        raise TraceParseError(
            source, line_no, text[:SHOWN_CHARS], f"line longer than {MAX_LINE_CHARS:,} characters"
        )
    stripped = text.strip()
    if not stripped or stripped.startswith("#"):
        return None
    try:
        if fmt == JSONL:
            return _parse_json(stripped)
        words = stripped.split("#", 1)[0].split()
        name = words[0].lower()
        return _build(name, _text_values(name, words[1:]))
    except (ValueError, UnitError) as exc:
        raise TraceParseError(source, line_no, text, str(exc)) from None


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(digits)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    record: dict[str, object] = {}
    for key, value in pairs:
        if key in record:
            raise ValueError(f"key {shorten(key)!r} given twice")
        record[key] = value
    return record


def json_depth(text: str) -> int:
    """How deep arrays and objects nest in the JSON ``text`` (0 for a scalar), counting only
    brackets outside strings. O(len(text)), in C except one step per bracket.

    >>> json_depth('{"op": "plug", "x": [[1], "]]]"]}')
    3
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(_DEPTH_STEP[ch] for ch in brackets), default=0)


def load_json(text: str) -> object:
    """The JSON value ``text`` holds, read within bounds: at most :data:`MAX_JSON_DEPTH`
    nested arrays/objects, integers of at most :data:`MAX_INT_DIGITS` digits, no ``NaN`` or
    ``Infinity``, no key given twice in an object.

    Raises ``ValueError`` naming what is wrong (never ``RecursionError``). O(len(text)).

    >>> load_json('{"op": "init", "steal": false}')
    {'op': 'init', 'steal': False}
    >>> load_json("[" * 100 + "]" * 100)
    Traceback (most recent call last):
    ...
    ValueError: JSON nested deeper than 16 levels
    """
    if json_depth(text) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(
            text,
            parse_int=_bounded_int,
            parse_constant=_no_constant,
            object_pairs_hook=_unique_keys,
        )
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at column {exc.colno})") from None


def _parse_json(text: str) -> TraceOp:
    record = load_json(text)
    if not isinstance(record, dict):
        raise ValueError(f"a JSON line must be an object, not {type(record).__name__}")
    name = record.pop("op", None)
    if not isinstance(name, str):
        raise ValueError('a JSON line needs "op" naming the operation')
    return _build(name, record)


def op_from_dict(record: dict[str, object]) -> TraceOp:
    """The operation a JSON-lines object describes (the inverse of :func:`op_to_dict`).
    Raises ``ValueError`` naming what is wrong."""
    values = dict(record)
    name = values.pop("op", None)
    if not isinstance(name, str):
        raise ValueError('an operation needs "op" naming it')
    return _build(name, values)


def detect_format(name: str, first_lines: Iterable[str]) -> str:
    """Guess a trace's format: by the file name's suffix (``.jsonl``/``.ndjson``/``.json``
    → JSON lines, ``.trace``/``.txt`` → text), else by its first operation line (``{`` →
    JSON lines), else text. O(lines looked at)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return JSONL
    if suffix in _TEXT_SUFFIXES:
        return TEXT
    for line in first_lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return JSONL if stripped.startswith("{") else TEXT
    return TEXT


def bounded_lines(stream: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[str]:
    """The lines of ``stream`` (newlines kept), never holding more than ``limit + 1``
    characters of one: a longer line is yielded cut to ``limit + 1`` characters (which
    :func:`parse_line` refuses as too long) and the rest of it is skipped, in chunks, only if
    the caller asks for the next line. So reading stops as soon as the caller stops (a trace
    of ``/dev/zero`` costs one bounded read). Memory O(limit); time O(characters read)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        yield line
        if len(line) > limit and not line.endswith("\n"):
            while True:
                rest = stream.readline(_SKIP_CHARS)
                if not rest or rest.endswith("\n"):
                    break


def parse_trace(
    text: str, fmt: str = TEXT, *, source: str = "<trace>"
) -> list[tuple[int, TraceOp]]:
    """Every operation of a whole trace with its 1-based line number; stops at the first bad
    line with its ``TraceParseError``. O(len(text))."""
    ops = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        op = parse_line(line, fmt, line_no=line_no, source=source)
        if op is not None:
            ops.append((line_no, op))
    return ops


# --------------------------------------------------------------------------- writing
def op_to_dict(op: TraceOp) -> dict[str, object]:
    """A JSON-ready dict of ``op``: ``"op"`` plus its values, addresses as hex strings, sizes
    as exact unit strings (``"128M"``), options only when not the default. O(1)."""
    record: dict[str, object] = {"op": op_name(op)}
    match op:
        case Init(steal=steal):
            if not steal:
                record["steal"] = False
        case Find(addr=addr, expect=expect):
            record["addr"] = format_addr(addr)
            if expect is not None:
                record["expect"] = expect
        case Plug(addr=addr, size=size) | Unplug(addr=addr, size=size):
            record["addr"] = format_addr(addr)
            record["size"] = format_quantity(size)
        case _:
            record["addr"] = format_addr(op.addr)
            record["size"] = format_quantity(op.size)
            if op.avail_start is not None:
                record["avail_start"] = format_addr(op.avail_start)
            if op.avail_end is not None:
                record["avail_end"] = format_addr(op.avail_end)
            if op.free_list:
                record["free_list"] = op.free_list
    return record


def format_op(op: TraceOp, fmt: str = TEXT) -> str:
    """``op`` as one line of ``fmt`` (no newline) that :func:`parse_line` reads back equal.

    >>> format_op(Plug(1 << 32, 128 << 20))
    'plug 0x100000000 128M'
    >>> format_op(Init(steal=False), "jsonl")
    '{"op": "init", "steal": false}'
    """
    record = op_to_dict(op)
    if fmt == JSONL:
        return json.dumps(record)
    words = [str(record.pop("op"))]
    for key in _POSITIONAL[words[0]]:
        words.append(str(record.pop(key)))
    for key, value in record.items():
        if isinstance(value, bool):
            words.append(f"{key}={'yes' if value else 'no'}")
        else:
            words.append(f"{key}={value}")
    return " ".join(words)


# --------------------------------------------------------------------------- applying
FindResult = tuple[Segment, int] | None
"""What a ``find`` answers: the segment and the page offset in it, or ``None`` (a hole)."""


def _pages(mem: PhysMem, what: str, addr: int, size: int) -> tuple[int, int]:
    mask = mem.page_size - 1
    if addr & mask or size & mask:
        raise InvalidArgumentError(
            what,
            Reason.NOT_PAGE_ALIGNED,
            value=(addr, addr + size),
            limit=mem.page_size,
            page_shift=mem.page_shift,
        )
    return addr >> mem.page_shift, size >> mem.page_shift


def _pfn(mem: PhysMem, what: str, addr: int | None) -> int | None:
    if addr is None:
        return None
    if addr & (mem.page_size - 1):
        raise InvalidArgumentError(
            what,
            Reason.NOT_PAGE_ALIGNED,
            value=addr,
            limit=mem.page_size,
            page_shift=mem.page_shift,
        )
    return addr >> mem.page_shift


def _find(mem: PhysMem, addr: int, expect: str | None) -> FindResult:
    found = mem.find(addr >> mem.page_shift)
    answer = "hole" if found is None else "managed"
    if expect is not None and expect != answer:
        where = "in a hole"
        if found is not None:
            seg = found[0]
            where = (
                f"managed by segment [{seg.start << mem.page_shift:#x},"
                f" {seg.end << mem.page_shift:#x})"
            )
        raise TraceCheckError(f"find {addr:#x}: expected {expect}, but it is {where}")
    return found


def _call(mem: PhysMem, op: TraceOp) -> Callable[[], Segment | FindResult]:
    """The :class:`PhysMem` call ``op`` makes, its byte ranges checked and made pages."""
    match op:
        case Plug(addr=addr, size=size):
            return partial(mem.plug, *_pages(mem, "plug", addr, size))
        case Unplug(addr=addr, size=size):
            return partial(mem.unplug, *_pages(mem, "unplug", addr, size))
        case Find(addr=addr, expect=expect):
            return partial(_find, mem, addr, expect)
        case Init(steal=steal):
            return partial(mem.boot, steal=steal)
        case _:
            first, npages = _pages(mem, "physload", op.addr, op.size)
            return partial(
                mem.load,
                first,
                first + npages,
                _pfn(mem, "physload avail_start", op.avail_start),
                _pfn(mem, "physload avail_end", op.avail_end),
                op.free_list,
            )


def apply_op(mem: PhysMem, op: TraceOp) -> Segment | FindResult:
    """Apply ``op`` to ``mem``: byte ranges become page ranges, then the matching
    :class:`PhysMem` call runs. Returns the new segment (``plug``, ``physload``), the lookup
    (``find``) or ``None`` (``unplug``, ``init``).

    Raises ``InvalidArgumentError`` for a range that is not page-aligned, whatever
    :class:`PhysMem` raises (the same error, its message rendered in bytes by
    :meth:`PhysSegError.in_bytes`; every such failure leaves ``mem`` unchanged), and
    ``TraceCheckError`` when a ``find`` does not meet its ``expect=``. Costs what the
    :class:`PhysMem` call costs."""
    call = _call(mem, op)
    try:
        return call()
    except PhysSegError as exc:
        raise exc.in_bytes() from None


# --------------------------------------------------------------------------- replaying
@dataclass(frozen=True, slots=True)
class ReplayFailure:
    """One line that failed: its number, its text and why."""

    line_no: int
    text: str
    reason: str


@dataclass(slots=True)
class ReplayReport:
    """What a replay did.

    ``lines``: operation lines read (blank and comment lines not counted); ``applied``: the
    operations that succeeded, in order; ``counts``: successes per operation name;
    ``failures``: every failed line (at most one unless ``keep_going``); ``finds_managed`` /
    ``finds_hole``: the answers of the ``find`` lines; ``stopped_at``: the line number the
    replay stopped at, or ``None`` when it read the whole trace."""

    lines: int = 0
    applied: list[TraceOp] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    failures: list[ReplayFailure] = field(default_factory=list)
    finds_managed: int = 0
    finds_hole: int = 0
    stopped_at: int | None = None

    @property
    def ok(self) -> bool:
        """Whether every line succeeded."""
        return not self.failures


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One line of a trace as read: its 1-based number, its length in characters (newline
    included, for a progress bar), its text as a message quotes it (:func:`shorten`), and
    the operation it holds (``None`` for a blank or comment line) or why it does not parse."""

    line_no: int
    chars: int
    text: str
    op: TraceOp | None = None
    error: TraceParseError | None = None


def read_trace(
    lines: Iterable[str], fmt: str = TEXT, *, source: str = "<trace>", keep_going: bool = False
) -> list[TraceLine]:
    """Parse every line of a trace without applying it: one :class:`TraceLine` per line read,
    stopping after the first line that does not parse unless ``keep_going``. Pass
    :func:`bounded_lines` of a stream so no line holds more than :data:`MAX_LINE_CHARS`.
    Raises nothing for a bad line; O(characters read)."""
    parsed = []
    for line_no, line in enumerate(lines, start=1):
        text = line.rstrip("\r\n")
        try:
            op = parse_line(line, fmt, line_no=line_no, source=source)
        except TraceParseError as exc:
            parsed.append(TraceLine(line_no, len(line), exc.line_text, error=exc))
            if not keep_going:
                break
            continue
        parsed.append(TraceLine(line_no, len(line), "" if op is None else shorten(text), op))
    return parsed


def apply_trace(
    mem: PhysMem,
    parsed: Iterable[TraceLine],
    *,
    keep_going: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Apply the operations of a parsed trace (:func:`read_trace`) to ``mem`` in order.

    Stops at the first line that did not parse or fails to apply (recorded in ``failures``
    with its number and reason; ``mem`` keeps every earlier operation) unless ``keep_going``,
    which records every failure and goes on. ``progress``, if given, is called after each line
    with the number of characters that line used (newline included), for a progress bar.
    Raises nothing for a bad line; O(lines * cost of one operation)."""
    report = ReplayReport()
    for line in parsed:
        if line.error is not None:
            report.lines += 1
            report.failures.append(ReplayFailure(line.line_no, line.text, line.error.reason))
        elif line.op is not None:
            report.lines += 1
            try:
                result = apply_op(mem, line.op)
            except (PhysSegError, TraceCheckError) as exc:
                report.failures.append(ReplayFailure(line.line_no, line.text, str(exc)))
            else:
                report.applied.append(line.op)
                report.counts[op_name(line.op)] += 1
                if isinstance(line.op, Find):
                    if result is None:
                        report.finds_hole += 1
                    else:
                        report.finds_managed += 1
        if progress is not None:
            progress(line.chars)
        if report.failures and not keep_going:
            report.stopped_at = line.line_no
            break
    return report


def replay(
    mem: PhysMem,
    lines: Iterable[str],
    fmt: str = TEXT,
    *,
    source: str = "<trace>",
    keep_going: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ReplayReport:
    """Parse and apply every line of a trace to ``mem`` in order: :func:`apply_trace` of
    :func:`read_trace` (see both for the stopping rule and ``progress``). Raises nothing for a
    bad line; O(lines * cost of one operation)."""
    parsed = read_trace(lines, fmt, source=source, keep_going=keep_going)
    return apply_trace(mem, parsed, keep_going=keep_going, progress=progress)
