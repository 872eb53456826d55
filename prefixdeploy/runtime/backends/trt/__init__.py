"""TensorRT backend: builds an engine from the portable ONNX graph once, caches it on disk, runs `feeds -> outputs`.

Must not import torch; `tensorrt` and cuda-python are imported only when a TrtBackend is created. Split the way
Polygraphy splits its TensorRT backend: `config` (options and the optimization profile), `build` (parse and build an
engine), `cache` (the on-disk engine cache), `cuda` (CUDA calls and device buffers), `runner` (the backend object).
"""

from prefixdeploy.runtime.backends.trt.build import INSTALL_HINT
from prefixdeploy.runtime.backends.trt.cache import default_cache_dir, engine_cache_key
from prefixdeploy.runtime.backends.trt.config import (
    BATCH,
    PAST,
    SEQUENCE,
    TOTAL,
    TrtConfig,
    bundle_options,
    tensor_axes,
)
from prefixdeploy.runtime.backends.trt.runner import TrtBackend

__all__ = [
    "BATCH",
    "INSTALL_HINT",
    "PAST",
    "SEQUENCE",
    "TOTAL",
    "TrtBackend",
    "TrtConfig",
    "bundle_options",
    "default_cache_dir",
    "engine_cache_key",
    "tensor_axes",
]
