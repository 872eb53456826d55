"""KV buffers in small pages that fill in as they are written; freed heap memory goes back to the operating system
after a load (glibc's malloc_trim; elsewhere a no-op)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from prefixdeploy.runtime.memory import _malloc_trim, release_free_heap, zeros_in_small_pages


def _resident_kib() -> int:
    status = open("/proc/self/status").read()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1])


def test_small_page_zeros_are_zeros_of_the_shape_and_writable():
    kv = zeros_in_small_pages((2, 3, 4), np.float32)
    assert kv.shape == (2, 3, 4) and kv.dtype == np.float32 and not kv.any()
    kv[1, 2] = 7.0
    assert kv.sum() == 28.0
    assert zeros_in_small_pages((0, 5)).shape == (0, 5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_big_buffer_costs_only_the_pages_written():
    before = _resident_kib()
    kv = zeros_in_small_pages((64, 1024, 1024), np.float32)  # 256 MiB
    kv[::8, 0, :4] = 1.0  # one position in every 8 MiB: 8 small pages, where huge pages would fault in 16 MiB
    assert _resident_kib() - before < 4 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's; reads /proc/self/status")
def test_freed_heap_is_given_back_on_linux():
    """~80 MiB of small blocks freed below a live one (so the heap's top cannot shrink): glibc keeps their pages
    resident until `release_free_heap` trims them."""
    assert _malloc_trim() is not None  # glibc: the CI and Jetson images
    blocks = [bytearray(4096) for _ in range(20_000)]  # ~80 MiB of small heap blocks
    pin = bytearray(4096)  # allocated after them: the heap's top stays in use
    del blocks
    before = _resident_kib()
    release_free_heap()
    assert before - _resident_kib() > 40 * 1024  # most of the 80 MiB went back to the system
    release_free_heap()  # returns nothing, and may run any number of times
    del pin
