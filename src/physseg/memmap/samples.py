"""The sample memory maps shipped in ``physseg/data/maps/``: their index and their text.

The samples were written for this project to look like real machines; they are not copies of
any machine's output.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class SampleMap:
    """One shipped map: its ``name`` (what :func:`physseg.memmap.load_map` accepts), the file
    under ``physseg/data/maps/``, its format name and a one-line description."""

    name: str
    filename: str
    format: str
    description: str


_SAMPLES = (
    SampleMap(
        "qemu-512m",
        "qemu-512m.dmesg",
        "e820",
        "Linux dmesg of a 512 MiB QEMU/SeaBIOS guest: classic e820 table, with timestamps",
    ),
    SampleMap(
        "desktop-16g",
        "desktop-16g.iomem",
        "iomem",
        "/proc/iomem of a 16 GiB UEFI desktop: PCI hole below 4 GiB, RAM remapped above",
    ),
    SampleMap(
        "server-1t",
        "server-1t.sysfs",
        "sysfs",
        "grep -r . /sys/firmware/memmap of a two-socket server: 1025 GiB of RAM around "
        "four holes, reaching 1090 GiB, plus 256 GiB of persistent memory",
    ),
    SampleMap(
        "vm-hotplug",
        "vm-hotplug.lsmem",
        "lsmem",
        "lsmem of a guest with 4 GiB of boot RAM and 1 GiB hot-plugged, half of it offline",
    ),
    SampleMap(
        "netbsd-uefi-8g",
        "netbsd-uefi-8g.dmesg",
        "netbsd",
        "NetBSD/amd64 DEBUG_MEMLOAD boot of an 8 GiB UEFI machine (MEMMAP: lines)",
    ),
    SampleMap(
        "freebsd-32g",
        "freebsd-32g.dmesg",
        "freebsd",
        "FreeBSD/amd64 verbose boot of a 32 GiB machine (Physical memory chunk(s))",
    ),
)


def list_sample_maps() -> list[SampleMap]:
    """Every shipped sample map, in a fixed order. O(1)."""
    return list(_SAMPLES)


def find_sample_map(name: str) -> SampleMap | None:
    """The sample called ``name``, or ``None``. O(number of samples)."""
    for sample in _SAMPLES:
        if sample.name == name:
            return sample
    return None


def sample_map_text(sample: SampleMap) -> str:
    """The text of ``sample``'s file, read from the installed package.
    Raises ``OSError`` if the package data is missing."""
    files = resources.files("physseg").joinpath("data", "maps", sample.filename)
    return files.read_text(encoding="utf-8")
