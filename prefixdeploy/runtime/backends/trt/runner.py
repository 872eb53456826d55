"""The TensorRT runner: opens an engine for a portable graph (built once, then from the cache), runs feeds -> outputs.

Must not import torch. `tensorrt` (10 or newer) and cuda-python are imported only when a TrtBackend is created, so
importing this module works on a machine without them. Device buffers are kept per tensor, grow when a call needs
more, and are reused: decode steps differ only in the cache length.

Shape letters as in `generate.py`: B rows, T tokens fed this step, S cache length, H_kv kv heads, D head dim, V vocab.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime.backends.base import Backend, TensorSpec
from prefixdeploy.runtime.backends.trt.build import INSTALL_HINT, build_engine, import_trt, make_logger
from prefixdeploy.runtime.backends.trt.cache import (
    default_cache_dir,
    engine_cache_key,
    engine_path,
    load_cached_engine,
    save_engine,
)
from prefixdeploy.runtime.backends.trt.config import (
    DEFAULT_MAX_BATCH,
    DEFAULT_MAX_SEQUENCE,
    DEFAULT_MAX_TOTAL,
    OPTION_OF_AXIS,
    TrtConfig,
    tensor_axes,
)
from prefixdeploy.runtime.backends.trt.cuda import Cuda, DeviceBuffers, import_cudart

if TYPE_CHECKING:  # for annotations; at run time, each function imports tensorrt itself
    import tensorrt as trt

log = logging.getLogger(__name__)


class TrtBackend(Backend):
    """A TensorRT engine for a portable decoder graph, built once per graph, GPU and options, then cached."""

    def __init__(
        self,
        model_path: str | Path,
        fp16: bool = False,
        max_batch: int = DEFAULT_MAX_BATCH,
        max_sequence: int = DEFAULT_MAX_SEQUENCE,
        max_total: int = DEFAULT_MAX_TOTAL,
        cache_dir: str | Path | None = None,
        workspace_mb: int | None = 1024,
    ):
        self.config = TrtConfig(
            fp16=fp16, max_batch=max_batch, max_sequence=max_sequence, max_total=max_total, workspace_mb=workspace_mb
        )
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise BundleError(f"ONNX graph {self.model_path} does not exist")
        trt_version = import_trt()  # checked once here; later functions import tensorrt themselves (typed by mypy)
        if fp16 and not _has_fp16_flag():
            raise PrefixDeployError(
                f"fp16=True needs TensorRT 10's BuilderFlag.FP16, which TensorRT {trt_version} removed "
                "(it builds strongly typed networks only); use fp16=False"
            )
        self.cuda = Cuda(import_cudart(INSTALL_HINT))
        self.buffers = DeviceBuffers(self.cuda)
        self.runtime: trt.Runtime | None = None
        self.engine: trt.ICudaEngine | None = None
        self.context: trt.IExecutionContext | None = None
        self.stream = None
        key = engine_cache_key(self.model_path, self.config, trt_version, self.cuda.device())
        self.engine_path = engine_path(Path(cache_dir or default_cache_dir()), self.model_path, key)
        self.logger = make_logger()  # must outlive the runtime and engine
        try:
            self._open_engine()
        except BaseException:
            self.close()
            raise

    def _open_engine(self) -> None:
        import tensorrt as trt

        self.runtime = runtime = trt.Runtime(self.logger)
        engine = load_cached_engine(runtime, self.engine_path)
        if engine is None:
            log.info("building a TensorRT engine for %s (once; it is cached as %s)", self.model_path, self.engine_path)
            plan = build_engine(self.logger, self.model_path, self.config)
            save_engine(self.engine_path, plan)
            engine = runtime.deserialize_cuda_engine(plan)
            if engine is None:
                raise PrefixDeployError(f"TensorRT could not load the engine it built: {self.logger.last_errors()}")
        self.engine = engine
        self.context = engine.create_execution_context()
        if self.context is None:
            raise PrefixDeployError(f"TensorRT could not create an execution context: {self.logger.last_errors()}")
        self.stream = self.cuda("cudaStreamCreate")
        self._describe_io(engine)

    def _describe_io(self, engine: trt.ICudaEngine) -> None:
        import tensorrt as trt

        dtypes: dict[trt.DataType, type[np.generic]] = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16}
        dtypes.update({trt.DataType.INT32: np.int32, trt.DataType.INT64: np.int64})
        dtypes.update({trt.DataType.BOOL: np.bool_, trt.DataType.INT8: np.int8})
        self.inputs, self.outputs = [], []
        self._axes: dict[str, tuple[str | None, ...]] = {}
        self._bounds: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = _shape(engine.get_tensor_shape(name))
            axes = tensor_axes(name, len(shape))
            dims = tuple(d if d >= 0 else (role or f"dim{k}") for k, (d, role) in enumerate(zip(shape, axes)))
            spec = TensorSpec(name, np.dtype(dtypes[engine.get_tensor_dtype(name)]), dims)
            self._axes[name] = axes
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                if engine.is_shape_inference_io(name):  # would need host memory; the portable graph has none
                    raise BundleError(f"input {name} is a shape tensor for TensorRT; the backend does not feed those")
                lo, _, hi = engine.get_tensor_profile_shape(name, 0)
                self._bounds[name] = (_shape(lo), _shape(hi))
                self.inputs.append(spec)
            else:
                self.outputs.append(spec)

    # -- running ----------------------------------------------------------------------------------------------------

    def _run(self, feeds: dict[str, np.ndarray], outputs: list[str] | None = None) -> dict[str, np.ndarray]:
        wanted = outputs or [spec.name for spec in self.outputs]
        unknown = sorted(set(wanted) - {spec.name for spec in self.outputs})
        if unknown:
            raise ValueError(f"unknown outputs: {unknown}; the graph has {[spec.name for spec in self.outputs]}")
        ctx, rt, stream = self.context, self.cuda.rt, self.stream
        assert ctx is not None, "run after close"
        hosts = {}  # every array the stream reads or writes stays referenced until it is synchronized
        for spec in self.inputs:
            arr = np.ascontiguousarray(feeds[spec.name])
            self._check_range(spec.name, arr.shape)
            if not ctx.set_input_shape(spec.name, arr.shape):
                raise RuntimeError(f"TensorRT rejected shape {arr.shape} for {spec.name}: {self.logger.last_errors()}")
            ptr = self.buffers.get(spec.name, arr.nbytes)
            if arr.nbytes:
                kind = rt.cudaMemcpyKind.cudaMemcpyHostToDevice
                self.cuda("cudaMemcpyAsync", ptr, arr.ctypes.data, arr.nbytes, kind, stream)
            ctx.set_tensor_address(spec.name, ptr)
            hosts[spec.name] = arr
        for spec in self.outputs:  # every output shape follows from the input shapes
            shape = _shape(ctx.get_tensor_shape(spec.name))
            hosts[spec.name] = out = np.empty(shape, spec.dtype)
            ctx.set_tensor_address(spec.name, self.buffers.get(spec.name, out.nbytes))
        if not ctx.execute_async_v3(self.cuda.stream_handle(stream)):
            raise RuntimeError(f"TensorRT execution failed: {self.logger.last_errors()}")
        for name in wanted:
            out = hosts[name]
            if out.nbytes:
                kind = rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
                self.cuda("cudaMemcpyAsync", out.ctypes.data, self.buffers.ptr[name], out.nbytes, kind, stream)
        self.cuda("cudaStreamSynchronize", stream)
        return {name: hosts[name] for name in wanted}

    def _check_range(self, name: str, shape: tuple[int, ...]) -> None:
        lo, hi = self._bounds[name]
        for axis, (n, a, b) in enumerate(zip(shape, lo, hi)):
            if not a <= n <= b:
                role = self._axes[name][axis]
                option = OPTION_OF_AXIS.get(role) if role else None
                fix = (
                    f"; open the bundle with a larger {option}= (the engine is rebuilt once and cached)"
                    if option
                    else ""
                )
                raise PrefixDeployError(
                    f"input {name} has {role or f'axis {axis}'} {n}, outside this TensorRT engine's range {a}..{b}{fix}"
                )

    def close(self) -> None:
        if self.stream is not None:
            self.cuda("cudaStreamSynchronize", self.stream)
            self.cuda("cudaStreamDestroy", self.stream)
            self.stream = None
        self.buffers.release_all()
        self.context = self.engine = self.runtime = None  # in this order: context, engine, then runtime


def _has_fp16_flag() -> bool:
    import tensorrt as trt

    return hasattr(trt.BuilderFlag, "FP16")


def _shape(dims: trt.Dims) -> tuple[int, ...]:
    return tuple(dims[i] for i in range(len(dims)))  # trt.Dims indexes; its stub declares no __iter__
