"""Real-world memory maps: parsers for Linux, NetBSD and FreeBSD outputs, format detection,
shipped sample maps, and the x86 boot rules that turn a map into ``uvm_page_physload`` calls.

>>> m = parse("BIOS-e820: [mem 0x0000000000100000-0x000000001fffffff] usable")
>>> m.format, [str(r) for r in m.usable()]
('e820', ["[0x100000-0x20000000) usable 'usable'"])
"""

from __future__ import annotations

from physseg.memmap.detect import (
    PARSERS,
    MemMapFormatError,
    detect_format,
    load_map,
    parse,
    parse_stream,
)
from physseg.memmap.e820 import parse_e820
from physseg.memmap.freebsd import parse_freebsd
from physseg.memmap.iomem import parse_iomem
from physseg.memmap.lsmem import parse_lsmem
from physseg.memmap.model import (
    MemMap,
    MemMapParseError,
    MemRange,
    RangeKind,
    RangeTable,
    classify_label,
)
from physseg.memmap.netbsd import parse_netbsd
from physseg.memmap.samples import SampleMap, list_sample_maps
from physseg.memmap.sysfs import parse_sysfs_memmap, parse_sysfs_memmap_dir
from physseg.memmap.x86boot import (
    AMD64_FREELISTS,
    ATF_FREELISTS,
    VM_FREELIST_DEFAULT,
    VM_FREELIST_FIRST1G,
    VM_FREELIST_FIRST4G,
    VM_FREELIST_FIRST16,
    VM_NFREELIST,
    BootPlan,
    FreeList,
    FreeListTable,
    PhysLoad,
    plan_boot,
)

__all__ = [
    "AMD64_FREELISTS",
    "ATF_FREELISTS",
    "PARSERS",
    "VM_FREELIST_DEFAULT",
    "VM_FREELIST_FIRST1G",
    "VM_FREELIST_FIRST4G",
    "VM_FREELIST_FIRST16",
    "VM_NFREELIST",
    "BootPlan",
    "FreeList",
    "FreeListTable",
    "MemMap",
    "MemMapFormatError",
    "MemMapParseError",
    "MemRange",
    "PhysLoad",
    "RangeKind",
    "RangeTable",
    "SampleMap",
    "classify_label",
    "detect_format",
    "list_sample_maps",
    "load_map",
    "parse",
    "parse_e820",
    "parse_freebsd",
    "parse_iomem",
    "parse_lsmem",
    "parse_netbsd",
    "parse_stream",
    "parse_sysfs_memmap",
    "parse_sysfs_memmap_dir",
    "plan_boot",
]
