"""Building a TensorRT engine from the portable ONNX graph: import TensorRT, parse, set the flags and profile, build.

Must not import torch; tensorrt is imported only by `import_trt`, so importing this module works without it.
"""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path

from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime.backends.trt.config import TrtConfig, tensor_axes

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "the TensorRT backend needs the tensorrt (10 or newer) and cuda-python packages: pip install 'prefixdeploy[trt]' "
    "on a machine with an NVIDIA GPU; on Jetson, use JetPack's TensorRT (a venv made with --system-site-packages) "
    "and pip install cuda-python matching its CUDA; or use the ONNX Runtime backend (backend='ort')"
)


def import_trt() -> str:
    """Check that tensorrt 10 or newer imports, and return its version; else a PrefixDeployError saying what to do.

    The functions that use TensorRT import it themselves (so mypy checks their calls against its stubs).
    """
    try:
        import tensorrt as trt
    except (ImportError, OSError) as e:  # OSError: the wheel is there but libnvinfer cannot load
        raise PrefixDeployError(f"{INSTALL_HINT} (import tensorrt: {e})") from None
    if int(trt.__version__.split(".")[0]) < 10:
        raise PrefixDeployError(f"{INSTALL_HINT} (found TensorRT {trt.__version__})")
    return trt.__version__


def make_logger():
    """A trt.ILogger that forwards TensorRT's messages to `logging` and keeps the latest errors for messages."""
    import tensorrt as trt

    class _TrtLogger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.errors: collections.deque[str] = collections.deque(maxlen=5)

        def log(self, severity: trt.ILogger.Severity, msg: str) -> None:
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


def build_engine(logger, model_path: Path, config: TrtConfig) -> bytes:
    """Parse the ONNX file at `model_path` and build a serialized engine with one profile from `config`."""
    import tensorrt as trt

    started = time.monotonic()
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: every network is explicit-batch; the flag is deprecated
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(model_path)):  # from the file, so external data beside it is found
        errors = "; ".join(" ".join(str(parser.get_error(i)).split()) for i in range(parser.num_errors))
        raise BundleError(f"TensorRT cannot parse {model_path.name}: {errors or logger.last_errors()}")
    builder_config = builder.create_builder_config()
    if config.workspace_mb is not None:
        builder_config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, config.workspace_mb << 20)
    if config.fp16:
        builder_config.set_flag(trt.BuilderFlag.FP16)
    else:
        # TF32 is on by default, and Orin's Ampere GPU has it: it rounds matmul inputs to 10 mantissa bits, which
        # moves fp32 logits by up to ~1e-1 where the fp32 engine promises ONNX Runtime's within 1e-3. With fp16
        # asked for, that precision is given up already, so TF32 may stay.
        builder_config.clear_flag(trt.BuilderFlag.TF32)
    builder_config.add_optimization_profile(make_profile(builder, network, config))
    plan = builder.build_serialized_network(network, builder_config)
    if plan is None:
        raise PrefixDeployError(f"TensorRT could not build an engine: {logger.last_errors()}")
    log.info("built the TensorRT engine in %.0f s", time.monotonic() - started)
    return bytes(plan)


def make_profile(builder, network, config: TrtConfig):
    """One profile over the inputs the parsed network really has: every dynamic (-1) axis gets its range."""
    ranges, profile = config.ranges(), builder.create_optimization_profile()
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        shape = tuple(tensor.shape)
        bounds = []
        for axis, (dim, role) in enumerate(zip(shape, tensor_axes(tensor.name, len(shape)))):
            if dim >= 0:
                bounds.append((dim, dim, dim))
            elif role is None:
                raise BundleError(f"input {tensor.name} has a dynamic axis {axis} the TensorRT backend cannot bound")
            else:
                bounds.append(ranges[role])
        lo, opt, hi = zip(*bounds)
        profile.set_shape(tensor.name, lo, opt, hi)
    return profile
