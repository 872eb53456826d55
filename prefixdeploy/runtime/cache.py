"""Where prefixdeploy caches what it fetches or builds (models from PyPI, TensorRT engines). Must not import torch."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """`$PREFIXDEPLOY_CACHE` (default `~/.cache/prefixdeploy`), joined with `parts`."""
    root = Path(os.environ.get("PREFIXDEPLOY_CACHE", Path.home() / ".cache" / "prefixdeploy"))
    return root.joinpath(*parts)
