"""map_large_blocks: freed large blocks leave the process instead of staying in its heap."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from report_exports.settings import PROJECT_ROOT

# In a fresh interpreter: glibc raises its mmap threshold once a mapped block is freed (the
# 4 MB block); then 64 blocks of 256 KB are made and every other one is freed, the ones kept
# holding the freed ones inside the heap. Printed: the MB the 32 freed blocks gave back.
PROBE = """
import ctypes, sys
from report_exports.memory import map_large_blocks
if sys.argv[1] == "map":
    assert map_large_blocks()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
libc.free.argtypes = (ctypes.c_void_p,)
def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
libc.free(libc.malloc(4 << 20))
blocks = []
for _ in range(64):
    blocks.append(libc.malloc(256 << 10))
    ctypes.memset(blocks[-1], 1, 256 << 10)
before = rss()
for block in blocks[1:-1:2]:
    libc.free(block)
print(before - rss())
"""


def _given_back(mode: str) -> float:
    # glibc's defaults: any MALLOC_*_ setting turns its dynamic threshold off, and Dask's
    # nanny (started in-process by the Dask runner's test) exports MALLOC_TRIM_THRESHOLD_.
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_ROOT,
        env=env,
    )
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_large_blocks_leave_the_process_once_mapped() -> None:
    assert _given_back("heap") < 2  # 31 freed blocks, 7.75 MB, held between kept ones
    assert _given_back("map") > 6
