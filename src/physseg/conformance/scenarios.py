"""NetBSD's ATF test cases (``tests/sys/uvm/t_uvm_physseg.c``) as call sequences of the
conformance ABI, one per case that the ABI can express, shaped by the configuration as the C
cases are by ``VM_PHYSSEG_MAX``. Both sides run them in lockstep, so every value a case asserts
(and every other observable one) is compared.

Not expressible through the ABI, and so not here: the cases on internal functions
(``uvm_physseg_alloc``/``free``, ``seg_chomp_slab``, ``seg_alloc_from_slab``, ``init_seg``:
ATF 1-6, 13-15) and those that call ``init_seg`` at boot or set ``page_init_done`` by hand
(ATF 17, 19, 21, 23, 30, 31, 35-38, 41, 43, 46). physseg's own port of the whole suite is
``tests/atf/test_t_uvm_physseg.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from physseg.conformance.calls import Call
from physseg.conformance.config import Config

PFN_1 = (0, 256, 0, 256)
PFN_2 = (256, 512, 256, 512)
PFN_3 = (512, 768, 512, 768)
FIRST16 = 3
FIRST1G = 2
FIRST4G = 1


def _load(span: tuple[int, int, int, int], free_list: int = 0) -> Call:
    return Call("physload", (*span, free_list))


@dataclass(frozen=True, slots=True)
class Scenario:
    """ATF case ``name``: ``build(config)`` gives its calls, ``None`` where it does not
    apply."""

    name: str
    build: Callable[[Config], list[Call] | None]

    def applies(self, config: Config) -> bool:
        """Whether the case runs in ``config``. O(calls)."""
        return self.build(config) is not None

    def calls_for(self, config: Config) -> list[Call]:
        """The case's calls in ``config``. O(calls). Raises ``ValueError`` where it does not
        apply."""
        calls = self.build(config)
        if calls is None:
            raise ValueError(f"ATF case {self.name} does not apply to {config.name}")
        return calls


def _plug(c: Config) -> list[Call] | None:
    if not c.hotplug:
        return None
    calls = [Call("plug", (0, 256))]
    if c.physseg_max > 2:
        calls.append(Call("plug", (256, 256)))
    calls.append(Call("page_init", (768,)))
    if c.physseg_max > 1:
        calls.append(Call("plug", (512, 256)))
    calls.append(Call("plug", (768, 256)))
    return calls


def _unplug(c: Config) -> list[Call] | None:
    if not c.hotplug:
        return None
    calls = [Call("plug", (0, 256)), Call("find", (64,)), Call("unplug", (64, 128))]
    if c.physseg_max == 1:
        return calls
    calls += [Call("find", (64,)), Call("page_init", (768,)), Call("find", (192,))]
    calls += [Call("unplug", (192, 64)), Call("unplug", (32, 32)), Call("unplug", (0, 16))]
    return [*calls, Call("unplug", (16, 16))]


def _ascending(count_limit: int) -> Callable[[Config], list[Call] | None]:
    def build(c: Config) -> list[Call]:
        spans = [PFN_1, PFN_2, PFN_3][: min(c.physseg_max, count_limit)]
        return [_load(span) for span in spans]

    return build


def _postboot(c: Config) -> list[Call]:
    return [_load(PFN_1), Call("page_init", (512,)), _load(PFN_2)]


def _immutable(c: Config) -> list[Call]:
    calls = [_load(PFN_2)]
    return [*calls, _load(PFN_1)] if c.physseg_max > 1 else calls


def _first(c: Config) -> list[Call]:
    calls = [Call("highest_frame", ())] if not c.hotplug else []
    calls.append(_load(PFN_2))
    if c.physseg_max > 1:
        calls.append(_load(PFN_1))
    if c.physseg_max > 2:
        calls.append(_load(PFN_3))
    return calls


def _highest(c: Config) -> list[Call]:
    calls = [_load(PFN_1), Call("highest_frame", ())]
    if c.physseg_max > 1:
        calls += [_load(PFN_3), Call("highest_frame", ())]
    if c.physseg_max > 2:
        calls += [_load(PFN_2), Call("highest_frame", ())]
    return calls


def _free_list(c: Config) -> list[Call]:
    calls = [_load(PFN_1)]
    if c.physseg_max > 1:
        calls.append(_load(PFN_2, FIRST16))
    if c.physseg_max > 2:
        calls.append(_load(PFN_3, FIRST1G))
    return calls


def _find(c: Config) -> list[Call]:
    if c.physseg_max > 1:
        return [_load(PFN_1), _load(PFN_2), Call("find", (255,)), Call("find", (258,))]
    return [_load(PFN_1), Call("find", (255,)), Call("find", (253,))]


def _physunload_end(c: Config) -> list[Call]:
    return [_load((256, 512, 257, 512)), Call("physunload", (0, 0))]


def _delete_start(c: Config) -> list[Call]:
    calls = [_load((255, 256, 255, 256))]
    if c.physseg_max > 1:
        calls.append(_load(PFN_2))
    return [*calls, Call("physunload", (0, 0))]


def _delete_end(c: Config) -> list[Call]:
    calls = [_load((0, 2, 1, 2))]
    if c.physseg_max > 1:
        calls.append(_load(PFN_2))
    return [*calls, Call("physunload", (0, 0)), Call("physunload", (0, 0))]


def _force(c: Config) -> list[Call]:
    calls = [_load(PFN_1)]
    if c.physseg_max > 1:
        calls.append(_load(PFN_2))
    calls += [Call("physunload_force", (0, 0)) for _ in range(256)]
    return [*calls, Call("find", (255,))]


def _force_invalid(c: Config) -> list[Call]:
    return [_load((256, 257, 256, 256)), Call("physunload_force", (0, 0))]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("uvm_physseg_plug", _plug),
    Scenario("uvm_physseg_unplug", _unplug),
    Scenario("uvm_physseg_init", lambda c: [Call("find", (0,))]),
    Scenario("uvm_page_physload_preload", _ascending(2)),
    Scenario("uvm_page_physload_postboot", _postboot),
    Scenario("uvm_physseg_handle_immutable", _immutable),
    Scenario("uvm_physseg_get_start_end_avail", _ascending(2)),
    Scenario("uvm_physseg_get_next_prev_last", _ascending(3)),
    Scenario("uvm_physseg_get_first", _first),
    Scenario("uvm_physseg_get_highest", _highest),
    Scenario("uvm_physseg_get_free_list", _free_list),
    Scenario("uvm_physseg_get_start_hint", lambda c: [_load(PFN_1)]),
    Scenario("vm_physseg_find", _find),
    Scenario("vm_physseg_find_invalid", lambda c: [_load(PFN_1), Call("find", (768,))]),
    Scenario("uvm_page_physunload_end", _physunload_end),
    Scenario("uvm_page_physunload_delete_start", _delete_start),
    Scenario("uvm_page_physunload_delete_end", _delete_end),
    Scenario("uvm_page_physunload_force", _force),
    Scenario("uvm_page_physunload_force_invalid", _force_invalid),
)
"""The ATF cases the ABI can express, in the C file's order (the getters' cases merged: the
lockstep compares every getter after every call)."""
