"""Hand freed heap memory back to the operating system once a bundle has loaded. Must not import torch.

Loading parses tokenizer.json and builds the ONNX Runtime session; both free most of what they allocate, but glibc
keeps freed heap pages mapped (they count as resident memory until the heap top is freed). `malloc_trim(0)` returns
them: 17 MiB less peak RSS for SmolLM2 int4 under `prefixdeploy bench`. Elsewhere (musl, macOS, Windows) a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys


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
