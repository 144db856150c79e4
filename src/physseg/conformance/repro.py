"""A divergence as a C program: the calls as a function body against the conformance ABI,
with what the model says each returns, ready to compile and link with the library."""

from __future__ import annotations

from collections.abc import Sequence

from physseg.conformance.calls import Call
from physseg.conformance.compare import Difference
from physseg.conformance.trace import Trace

_PRELUDE = """\
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "physseg_conformance.h"

void
psc_abort(const char *kind, const char *message)
{
	printf("abort (%s): %s\\n", kind, message);
	exit(1);
}

/* The k-th segment walking psc_first/psc_next while psc_valid. */
static psc_handle_t
segment(unsigned k)
{
	psc_handle_t h = psc_first();

	while (k-- > 0 && psc_valid(h))
		h = psc_next(h);
	return h;
}
"""


def _statement(call: Call) -> str:
    a = call.args
    if call.name == "physload":
        return (
            f"h = psc_physload({a[0]}, {a[1]}, {a[2]}, {a[3]}, {a[4]});\n"
            '\tprintf("physload -> %#" PRIx64 "\\n", h);'
        )
    if call.name == "plug":
        return f'ok = psc_plug({a[0]}, {a[1]}, &h);\n\tprintf("plug -> %d\\n", ok);'
    if call.name == "unplug":
        return f'ok = psc_unplug({a[0]}, {a[1]});\n\tprintf("unplug -> %d\\n", ok);'
    if call.name in ("physunload", "physunload_force"):
        return (
            f"ok = psc_{call.name}(segment({a[0]}), {a[1]}, &pa);\n"
            f'\tprintf("{call.name} -> %d pa %#" PRIx64 "\\n", ok, pa);'
        )
    if call.name == "physget":
        return 'ok = psc_physget(&pa);\n\tprintf("physget -> %d pa %#" PRIx64 "\\n", ok, pa);'
    if call.name == "page_init":
        return f"psc_page_init({a[0]});"
    if call.name == "find":
        return (
            f"h = psc_find({a[0]}, &off);\n"
            '\tprintf("find -> valid %d off %" PRIu64 "\\n", psc_valid(h), off);'
        )
    if call.name == "phys_to_vm_page":
        return (
            f"ok = psc_phys_to_vm_page({a[0]:#x}, &pg);\n"
            '\tprintf("phys_to_vm_page -> %d index %" PRIu64 "\\n", ok, pg.index);'
        )
    if call.name == "set_start_hint":
        return (
            f"ok = psc_set_start_hint(segment({a[0]}), {a[1]});\n"
            '\tprintf("set_start_hint -> %d\\n", ok);'
        )
    return 'printf("highest_frame -> %" PRIu64 "\\n", psc_highest_frame());'


def c_reproduction(calls: Sequence[Call], model: Trace, difference: Difference, title: str) -> str:
    """A C file that replays ``calls`` through the ABI and prints each result; comments give
    the model's result of each call and, at the call where they part, the first differing
    field. Build: ``gcc -I<physseg's csrc> repro.c LIBRARY.so``. O(calls)."""
    lines = [f"/*\n * physseg conformance reproduction: {title}".replace("*/", "* /")]
    lines.append(f" * First difference at call {difference.step + 1}, field {difference.field}:")
    for label, value in (
        ("model:         ", difference.model),
        ("implementation:", difference.actual),
    ):
        lines.append(f" *   {label} {value!r}".replace("*/", "* /"))
    lines.append(" */")
    lines.append(_PRELUDE)
    lines.append("int\nmain(void)\n{")
    lines.append("\tpsc_handle_t h = 0;\n\tuint64_t pa = 0, off = 0;")
    lines.append("\tstruct psc_page pg = { 0 };\n\tint ok = 0;\n")
    lines.append("\tpsc_boot();")
    for i, call in enumerate(calls):
        if i < len(model.steps):
            expected = f"model: {model.steps[i][0]!r}"
        elif model.abort is not None and model.abort.step == i:
            expected = f"model: abort ({model.abort.kind}) {model.abort.message}"
        else:
            expected = "model: not reached"
        marker = "  <-- the first difference" if i == difference.step else ""
        comment = f"{i + 1}: {call}; {expected}{marker}".replace("*/", "* /")
        lines.append(f"\t/* {comment} */")
        lines.append(f"\t{_statement(call)}")
    lines.append("\t(void)h; (void)pa; (void)off; (void)pg; (void)ok;")
    lines.append("\treturn 0;\n}\n")
    return "\n".join(lines)
