"""Data structures that know nothing of kernels: the red-black tree, extent(9), page arrays
and the allocator every allocation goes through."""
