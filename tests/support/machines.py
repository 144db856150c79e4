"""Machine databases for the store's tests: saving a machine built by a list of operations,
and editing a saved file behind the store's back (as a user, a bug or an attacker would)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from physseg import PhysMem
from physseg.cli.state import FreeListName, MachineConfig, MachineState, MapInfo, MapRange
from physseg.cli.store import save_new
from physseg.cli.trace import Init, PhysLoad, TraceOp, apply_op

MIB = 1 << 20
GIB = 1 << 30
BOOT: list[TraceOp] = [
    PhysLoad(0x8000, 0x97000, free_list=3),
    PhysLoad(16 * MIB, 240 * MIB, free_list=2),
    PhysLoad(GIB, 256 * MIB),
    Init(steal=False),
]
"""A small machine's boot: three segments, page arrays outside RAM."""
STEAL_BOOT: list[TraceOp] = [*BOOT[:-1], Init()]
"""The same boot with the page arrays stolen from RAM."""
MAP = MapInfo("test", "<test>", "e820", (MapRange(0, 0x1000, "reserved", "BIOS"),), ("a warning",))
FREELISTS = (FreeListName(0, "VM_FREELIST_DEFAULT", 0), FreeListName(3, "X", 16 * MIB))


def build(ops: list[TraceOp], config: MachineConfig | None = None) -> PhysMem:
    """A fresh machine of ``config`` after ``ops`` (all expected to succeed)."""
    mem = (config or MachineConfig()).new_machine()
    for op in ops:
        apply_op(mem, op)
    return mem


def save(
    path: Path, ops: list[TraceOp], config: MachineConfig | None = None
) -> tuple[MachineState, PhysMem]:
    """Save the machine ``ops`` build at ``path`` (with :data:`MAP` and :data:`FREELISTS`);
    returns the saved state and the live machine."""
    mem = build(ops, config)
    state = MachineState(config or MachineConfig(), map_info=MAP, freelists=FREELISTS)
    return save_new(path, state, mem, ops), mem


def edit(path: Path, *statements: str) -> None:
    """Run SQL ``statements`` on the database at ``path`` and commit (a hand edit)."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        for statement in statements:
            db.execute(statement)
