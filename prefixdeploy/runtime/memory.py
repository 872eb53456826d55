"""Memory the operating system hands out well: KV buffers in small pages, and freed heap given back after loading.

KV buffers: numpy asks for huge pages for every array over 4 MiB (madvise). Faulting in a 2 MiB page can make the
kernel compact memory first: the first write into each slot of the server's KV buffer took 0.3–0.8 s here, stalling
every decoding row. A cache is written a few positions at a time, so 4 KiB pages cost little and memory grows only
as positions are used. Must not import torch.

Loading parses tokenizer.json and builds the ONNX Runtime session; both free most of what they allocate, but glibc
keeps freed heap pages mapped (they count as resident memory until the heap top is freed). `malloc_trim(0)` returns
them: 17 MiB less peak RSS for SmolLM2 int4 under `prefixdeploy bench`. Elsewhere (musl, macOS, Windows) a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import mmap
import sys

import numpy as np


def zeros_in_small_pages(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    """`np.zeros(shape, dtype)` in anonymous memory without huge pages, filled in as it is first written."""
    nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if nbytes == 0 or not hasattr(mmap, "MAP_ANONYMOUS"):  # (Windows: plain numpy)
        return np.zeros(shape, dtype)
    buffer = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)  # zero-filled by the kernel
    if hasattr(mmap, "MADV_NOHUGEPAGE"):
        buffer.madvise(mmap.MADV_NOHUGEPAGE)  # also where transparent huge pages are "always"
    return np.frombuffer(buffer, dtype).reshape(shape)


def release_free_heap() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None
