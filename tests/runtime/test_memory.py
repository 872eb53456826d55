"""Freed heap memory goes back to the operating system after a load (glibc's malloc_trim; elsewhere a no-op)."""

from __future__ import annotations

import sys

import pytest

from prefixdeploy.runtime.memory import _malloc_trim, release_free_heap


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="malloc_trim is glibc's")
def test_freed_heap_is_trimmed_on_linux():
    assert _malloc_trim() is not None  # glibc: the CI and Jetson images
    blocks = [bytearray(4096) for _ in range(20_000)]  # ~80 MiB of small heap blocks
    del blocks
    release_free_heap()  # returns nothing, and may run any number of times
    release_free_heap()
