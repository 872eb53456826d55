"""TensorRT backend: builds an engine from the portable ONNX graph once, caches it on disk, runs `feeds -> outputs`.

Must not import torch. `tensorrt` (10 or newer) and cuda-python are imported only when a TrtBackend is created, so
importing this module works on a machine without them. The engine has one optimization profile covering batch
1..max_batch, new tokens 1..max_sequence and cache length up to max_total; it is cached under
`$PREFIXDEPLOY_CACHE/trt/` (default `~/.cache/prefixdeploy/trt/`), keyed by the sha256 of the .onnx file and its
external data, the TensorRT version, the GPU and the options. Device buffers are kept per tensor, grow when a call
needs more, and are reused: decode steps differ only in the cache length.

Shape letters as in `generate.py`: B rows, T tokens fed this step, S cache length, H_kv kv heads, D head dim, V vocab.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime import manifest as names
from prefixdeploy.runtime.atomic import atomic_path
from prefixdeploy.runtime.backends.base import Backend, TensorSpec
from prefixdeploy.runtime.cache import cache_dir

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the TensorRT backend needs the tensorrt (10 or newer) and cuda-python packages: pip install 'prefixdeploy[trt]' "
    "on a machine with an NVIDIA GPU; on Jetson, use JetPack's TensorRT (a venv made with --system-site-packages) "
    "and pip install cuda-python matching its CUDA; or use the ONNX Runtime backend (backend='ort')"
)
CACHE_FORMAT = "prefixdeploy-trt-engine-1"  # bump to invalidate every cached engine

# The dynamic axes of the decoder I/O (named as in the ONNX graph), and the option that bounds each.
BATCH, SEQUENCE, PAST, TOTAL = "batch_size", "sequence_length", "past_sequence_length", "total_sequence_length"
_OPTION = {BATCH: "max_batch", SEQUENCE: "max_sequence", PAST: "max_total", TOTAL: "max_total"}


def _name_pattern(*templates: str) -> re.Pattern:
    return re.compile("|".join(r"\d+".join(map(re.escape, t.split("{}"))) for t in templates))


_PAST = _name_pattern(names.PAST_KEY, names.PAST_VALUE)
_PRESENT = _name_pattern(names.PRESENT_KEY, names.PRESENT_VALUE)


def tensor_axes(name: str, rank: int) -> tuple[str | None, ...]:
    """The dynamic-axis name of each dimension of a decoder I/O tensor (None: fixed), as the exporter names them."""
    if name in (names.INPUT_IDS, names.POSITION_IDS):
        axes: tuple[str | None, ...] = (BATCH, SEQUENCE)  # (B, T)
    elif name == names.ATTENTION_MASK:
        axes = (BATCH, TOTAL)  # (B, S)
    elif name == names.PREFIX_IDS:
        axes = (BATCH,)  # (B,)
    elif name == names.LOGITS:
        axes = (BATCH, SEQUENCE, None)  # (B, T, V)
    elif _PAST.fullmatch(name):
        axes = (BATCH, None, PAST, None)  # (B, H_kv, S - T, D)
    elif _PRESENT.fullmatch(name):
        axes = (BATCH, None, TOTAL, None)  # (B, H_kv, S, D)
    else:
        return (None,) * rank
    if len(axes) != rank:
        raise BundleError(f"graph tensor {name} has rank {rank}; the decoder graph format gives it rank {len(axes)}")
    return axes


@dataclass(frozen=True)
class TrtConfig:
    """How the engine is built; every field is part of the engine cache key."""

    fp16: bool = False  # let TensorRT pick fp16 kernels (TensorRT 10 only: 11 removed the flag); I/O stays float32
    max_batch: int = 8
    max_sequence: int = 512  # most tokens fed in one call (the longest prompt, with left padding)
    max_total: int = 2048  # longest cache a decode step reaches: prefix + prompt + new tokens (cf. max_context)
    workspace_mb: int | None = 1024  # TensorRT's scratch memory limit; None: TensorRT's default (all device memory)

    def __post_init__(self):
        for field in ("max_batch", "max_sequence", "max_total"):
            if not isinstance(getattr(self, field), int) or getattr(self, field) < 1:
                raise PrefixDeployError(
                    f"TensorRT option {field} must be a positive integer, got {getattr(self, field)!r}"
                )
        if self.max_sequence > self.max_total:
            raise PrefixDeployError(
                f"TensorRT option max_sequence ({self.max_sequence}) exceeds max_total ({self.max_total}); "
                "the tokens fed in one call are part of the cache"
            )
        if self.workspace_mb is not None and self.workspace_mb < 1:
            raise PrefixDeployError(f"TensorRT option workspace_mb must be ≥ 1 or None, got {self.workspace_mb}")

    def ranges(self) -> dict[str, tuple[int, int, int]]:
        """(min, opt, max) per dynamic axis. Decode steps dominate generation: optimize for T = 1, a mid-size cache.

        TensorRT checks each corner of the profile (all mins, all opts, all maxes) as a shape on its own, so each
        must satisfy S = past + T; hence S may reach max_total - 1 + max_sequence (a prefill onto a long cache).
        """
        past = (0, min(256, self.max_total - 1), self.max_total - 1)  # 0: baked graphs and prefix-free rows
        new = (1, 1, self.max_sequence)
        return {
            BATCH: (1, 1, self.max_batch),
            SEQUENCE: new,
            PAST: past,
            TOTAL: tuple(p + t for p, t in zip(past, new)),
        }


def default_cache_dir() -> Path:
    return cache_dir("trt")


def engine_cache_key(model_path: Path, config: TrtConfig, trt_version: str, device: str) -> str:
    """sha256 over the graph and its external weights, the TensorRT version, the GPU and the build options."""
    h = hashlib.sha256(CACHE_FORMAT.encode())
    data = model_path.with_name(model_path.name + ".data")
    for path in (model_path, data):
        h.update(f"\0{path.name}\0{names.sha256_file(path) if path.is_file() else '-'}".encode())
    h.update(json.dumps({"tensorrt": trt_version, "device": device, **asdict(config)}, sort_keys=True).encode())
    return h.hexdigest()


def _import_trt():
    """tensorrt and cuda-python's runtime module, or a PrefixDeployError that says how to install them."""
    try:
        import tensorrt as trt
    except (ImportError, OSError) as e:  # OSError: the wheel is there but libnvinfer cannot load
        raise PrefixDeployError(f"{INSTALL_HINT} (import tensorrt: {e})") from None
    try:
        from cuda.bindings import runtime as cudart  # cuda-python ≥ 12.6, the only layout in 13
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6
        except ImportError as e:
            raise PrefixDeployError(f"{INSTALL_HINT} (import cuda-python: {e})") from None
    if int(trt.__version__.split(".")[0]) < 10:
        raise PrefixDeployError(f"{INSTALL_HINT} (found TensorRT {trt.__version__})")
    return trt, cudart


class _Cuda:
    """The few CUDA runtime calls the backend makes, through cuda-python, raising on error."""

    def __init__(self, cudart):
        self.rt = cudart

    def __call__(self, function: str, *args):
        err, *out = getattr(self.rt, function)(*args)
        if err != self.rt.cudaError_t.cudaSuccess:
            text = self.rt.cudaGetErrorString(err)[1]
            raise RuntimeError(f"{function}: {getattr(err, 'name', err)} ({_text(text)})")
        return out[0] if len(out) == 1 else None

    def device(self) -> str:
        """The current GPU's name and compute capability (engines are specific to both)."""
        try:
            if self("cudaGetDeviceCount") < 1:
                raise RuntimeError("no device")
            props = self("cudaGetDeviceProperties", self("cudaGetDevice"))
        except Exception as e:  # an error code, or cuda-python failing to find the driver at all
            raise PrefixDeployError(
                f"the TensorRT backend found no usable CUDA device ({e}); use backend='ort'"
            ) from None
        return f"{_text(props.name)} sm_{props.major}{props.minor}"

    def stream_handle(self, stream) -> int:
        try:  # cuda-python 13 deprecates int(handle)
            from cuda.bindings.utils import get_cuda_native_handle
        except ImportError:
            return int(stream)
        return get_cuda_native_handle(stream)


def _text(value) -> str:
    return value.split(b"\0")[0].decode(errors="replace") if isinstance(value, bytes) else str(value)


class _DeviceBuffers:
    """One device allocation per tensor name; it grows by at least half when a call needs more, else is reused."""

    def __init__(self, cuda: _Cuda):
        self.cuda, self.ptr, self.size = cuda, {}, {}

    def get(self, name: str, nbytes: int) -> int:
        if self.size.get(name, 0) < nbytes or name not in self.ptr:
            size = max(nbytes, self.size.get(name, 0) * 3 // 2, 256)  # never 0: empty tensors need a real address
            self.release(name)
            self.ptr[name], self.size[name] = self.cuda("cudaMalloc", size), size
        return self.ptr[name]

    def release(self, name: str) -> None:
        if name in self.ptr:
            self.cuda("cudaFree", self.ptr.pop(name))
            self.size.pop(name)

    def release_all(self) -> None:
        for name in list(self.ptr):
            self.release(name)


def _make_logger(trt):
    class _TrtLogger(trt.ILogger):
        """Forwards TensorRT's messages to `logging`; keeps the latest errors for exception messages."""

        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors = collections.deque(maxlen=5)

        def log(self, severity, msg):
            S = trt.ILogger.Severity
            if severity in (S.INTERNAL_ERROR, S.ERROR):
                self.errors.append(" ".join(msg.split()))
                log.error("TensorRT: %s", msg)
            elif severity == S.WARNING:
                log.warning("TensorRT: %s", msg)
            elif severity == S.INFO:
                log.debug("TensorRT: %s", msg)

        def last_errors(self) -> str:
            return "; ".join(self.errors) or "no error message from TensorRT"

    return _TrtLogger()


class TrtBackend(Backend):
    """A TensorRT engine for a portable decoder graph, built once per graph, GPU and options, then cached."""

    def __init__(
        self,
        model_path: str | Path,
        fp16: bool = False,
        max_batch: int = 8,
        max_sequence: int = 512,
        max_total: int = 2048,
        cache_dir: str | Path | None = None,
        workspace_mb: int | None = 1024,
    ):
        self.config = TrtConfig(fp16, max_batch, max_sequence, max_total, workspace_mb)
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise BundleError(f"ONNX graph {self.model_path} does not exist")
        self.trt, cudart = _import_trt()
        if fp16 and not hasattr(self.trt.BuilderFlag, "FP16"):
            raise PrefixDeployError(
                f"fp16=True needs TensorRT 10's BuilderFlag.FP16, which TensorRT {self.trt.__version__} removed "
                "(it builds strongly typed networks only); use fp16=False"
            )
        self.cuda = _Cuda(cudart)
        self.buffers = _DeviceBuffers(self.cuda)
        self.stream = self.context = self.engine = self.runtime = None
        device = self.cuda.device()
        key = engine_cache_key(self.model_path, self.config, self.trt.__version__, device)
        self.engine_path = Path(cache_dir or default_cache_dir()) / f"{self.model_path.stem}-{key[:32]}.engine"
        self.logger = _make_logger(self.trt)  # must outlive the runtime and engine
        try:
            self._open_engine()
        except BaseException:
            self.close()
            raise

    # -- building and loading ---------------------------------------------------------------------------------------

    def _open_engine(self) -> None:
        self.runtime = self.trt.Runtime(self.logger)
        self.engine = self._load_cached()
        if self.engine is None:
            plan = self._build()
            _save_atomically(self.engine_path, plan)
            self.engine = self.runtime.deserialize_cuda_engine(plan)
            if self.engine is None:
                raise PrefixDeployError(f"TensorRT could not load the engine it built: {self.logger.last_errors()}")
        self.context = self.engine.create_execution_context()
        if self.context is None:
            raise PrefixDeployError(f"TensorRT could not create an execution context: {self.logger.last_errors()}")
        self.stream = self.cuda("cudaStreamCreate")
        self._describe_io()

    def _load_cached(self):
        if not self.engine_path.is_file():
            return None
        engine = self.runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if engine is None:  # truncated, or written by an incompatible build: rebuild and overwrite
            log.warning("the cached TensorRT engine %s does not load; rebuilding it", self.engine_path)
        else:
            log.info("loaded the cached TensorRT engine %s", self.engine_path)
        return engine

    def _build(self) -> bytes:
        trt, c = self.trt, self.config
        log.info("building a TensorRT engine for %s (once; it is cached as %s)", self.model_path, self.engine_path)
        started = time.monotonic()
        builder = trt.Builder(self.logger)
        network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch; the flag is deprecated
        parser = trt.OnnxParser(network, self.logger)
        if not parser.parse_from_file(str(self.model_path)):  # from the file, so external data beside it is found
            errors = "; ".join(" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors))
            raise BundleError(f"TensorRT cannot parse {self.model_path.name}: {errors or self.logger.last_errors()}")
        config = builder.create_builder_config()
        if c.workspace_mb is not None:
            config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, c.workspace_mb << 20)
        if c.fp16:
            config.set_flag(trt.BuilderFlag.FP16)
        config.add_optimization_profile(self._profile(builder, network))
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise PrefixDeployError(f"TensorRT could not build an engine: {self.logger.last_errors()}")
        log.info("built the TensorRT engine in %.0f s", time.monotonic() - started)
        return bytes(plan)

    def _profile(self, builder, network):
        """One profile over the inputs the parsed network really has: every dynamic (-1) axis gets its range."""
        ranges, profile = self.config.ranges(), builder.create_optimization_profile()
        for i in range(network.num_inputs):
            tensor = network.get_input(i)
            shape = tuple(tensor.shape)
            axes = tensor_axes(tensor.name, len(shape))
            bounds = []
            for axis, (dim, role) in enumerate(zip(shape, axes)):
                if dim >= 0:
                    bounds.append((dim, dim, dim))
                elif role is None:
                    raise BundleError(
                        f"input {tensor.name} has a dynamic axis {axis} the TensorRT backend cannot bound"
                    )
                else:
                    bounds.append(ranges[role])
            lo, opt, hi = zip(*bounds)
            profile.set_shape(tensor.name, lo, opt, hi)
        return profile

    def _describe_io(self) -> None:
        trt, engine = self.trt, self.engine
        dtypes = {trt.DataType.FLOAT: np.float32, trt.DataType.HALF: np.float16, trt.DataType.INT32: np.int32}
        dtypes.update({trt.DataType.INT64: np.int64, trt.DataType.BOOL: np.bool_, trt.DataType.INT8: np.int8})
        self.inputs, self.outputs, self._axes, self._bounds = [], [], {}, {}
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            axes = tensor_axes(name, len(shape))
            dims = tuple(d if d >= 0 else (role or f"dim{k}") for k, (d, role) in enumerate(zip(shape, axes)))
            spec = TensorSpec(name, np.dtype(dtypes[engine.get_tensor_dtype(name)]), dims)
            self._axes[name] = axes
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                if engine.is_shape_inference_io(name):  # would need host memory; the portable graph has none
                    raise BundleError(f"input {name} is a shape tensor for TensorRT; the backend does not feed those")
                lo, _, hi = engine.get_tensor_profile_shape(name, 0)
                self._bounds[name] = (tuple(lo), tuple(hi))
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
            shape = tuple(ctx.get_tensor_shape(spec.name))
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
                option = _OPTION.get(role)
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


def _save_atomically(path: Path, plan: bytes) -> None:
    """Write the engine to the cache (temp file, then rename); a cache that cannot be written only costs a rebuild."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(plan)
    except OSError as e:
        log.warning("could not cache the TensorRT engine at %s (%s); it will be rebuilt next time", path, e)
