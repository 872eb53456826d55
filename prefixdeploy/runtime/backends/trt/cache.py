"""The on-disk cache of built TensorRT engines: where it lives, the key of an engine, saving and loading a plan.

Must not import torch; tensorrt objects are passed in. Engines are cached under `$PREFIXDEPLOY_CACHE/trt/` (default
`~/.cache/prefixdeploy/trt/`), keyed by the sha256 of the .onnx file and its external data, the TensorRT version,
the GPU and the build options: any of them changing builds another engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

from prefixdeploy.runtime import manifest as names
from prefixdeploy.runtime.backends.trt.config import TrtConfig

log = logging.getLogger(__name__)

CACHE_FORMAT = "prefixdeploy-trt-engine-1"  # bump to invalidate every cached engine


def default_cache_dir() -> Path:
    # The same root as `exporter.fetch.default_cache` (the runtime never imports the exporter).
    return Path(os.environ.get("PREFIXDEPLOY_CACHE", Path.home() / ".cache" / "prefixdeploy")) / "trt"


def engine_cache_key(model_path: Path, config: TrtConfig, trt_version: str, device: str) -> str:
    """sha256 over the graph and its external weights, the TensorRT version, the GPU and the build options."""
    h = hashlib.sha256(CACHE_FORMAT.encode())
    data = model_path.with_name(model_path.name + ".data")
    for path in (model_path, data):
        h.update(f"\0{path.name}\0{names.sha256_file(path) if path.is_file() else '-'}".encode())
    h.update(json.dumps({"tensorrt": trt_version, "device": device, **asdict(config)}, sort_keys=True).encode())
    return h.hexdigest()


def engine_path(cache_dir: Path, model_path: Path, key: str) -> Path:
    return cache_dir / f"{model_path.stem}-{key[:32]}.engine"


def load_cached_engine(runtime, path: Path):
    """The deserialized engine at `path`, or None when there is none or it does not load (then it is rebuilt)."""
    if not path.is_file():
        return None
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:  # truncated, or written by an incompatible build: rebuild and overwrite
        log.warning("the cached TensorRT engine %s does not load; rebuilding it", path)
    else:
        log.info("loaded the cached TensorRT engine %s", path)
    return engine


def save_engine(path: Path, plan: bytes) -> None:
    """Write the engine to the cache (temp file, then rename); a cache that cannot be written only costs a rebuild."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(plan)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:
        log.warning("could not cache the TensorRT engine at %s (%s); it will be rebuilt next time", path, e)
