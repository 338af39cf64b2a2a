"""Process memory: large freed blocks go back to the operating system.

Arrow buffers (ADBC's record batches, pyarrow's Parquet reader and writer) come from glibc's
malloc. Past its first frees, glibc serves blocks up to 32 MB from the heap, where freed
ones stay in the process, fragmented; staging 1M rows to Parquet and rendering them as XLSX
ended at 300 MB peak RSS that way, and at 282 MB with every block of 128 KB or more mapped
on its own and unmapped when freed (benchmarks/NOTES.md).
"""

from __future__ import annotations

import ctypes
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
LARGE_BLOCK_BYTES = 128 << 10


def map_large_blocks(threshold_bytes: int = LARGE_BLOCK_BYTES) -> bool:
    """Serve allocations of ``threshold_bytes`` or more by mmap from now on, in this process.

    True when the C library took the setting (glibc); False elsewhere, where nothing changes.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold_bytes))
