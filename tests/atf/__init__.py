"""Port of NetBSD's ATF tests for uvm_physseg (t_uvm_physseg.c, t_uvm_physseg_load.c) and the
catalogue of NetBSD's quirks as physseg reproduces them."""
