"""``physseg conformance``: physseg's model as the executable specification of uvm_physseg.

A C implementation of uvm_physseg(9) (NetBSD's own ``uvm_physseg.c`` built in userspace with
physseg's shims, or any library exposing the ABI of ``csrc/physseg_conformance.h``) is driven
call by call in lockstep with :class:`physseg.netbsd.Kernel`; every return value and every
observable piece of state is compared, and each divergence is shrunk to a minimal call sequence
with a ready-to-compile C reproduction. ``docs/conformance.md`` describes it.
"""

from physseg.conformance.check import ConfigReport, Divergence, Target, check
from physseg.conformance.config import ALL_CONFIGS, Config
from physseg.conformance.targets import MUTANTS, library_target, netbsd_target, reference_target

__all__ = [
    "ALL_CONFIGS",
    "MUTANTS",
    "Config",
    "ConfigReport",
    "Divergence",
    "Target",
    "check",
    "library_target",
    "netbsd_target",
    "reference_target",
]
