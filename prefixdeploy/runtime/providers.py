"""ONNX Runtime execution providers: which of a bundle's graphs each can take, and the session's provider list.

Must not import torch. Everything here is a pure function of the manifest, the options and the list of available
providers (an argument), so the choices are unit-tested on a machine that has only the CPU provider; the sessions
themselves need onnxruntime-gpu and an NVIDIA GPU (`pip install onnxruntime-gpu`; on Jetson, the JetPack wheel).

Shape letters as in `generate.py`: B rows, T tokens fed this step, S cache length, H_kv kv heads, D head dim.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from pathlib import Path

import onnxruntime

from prefixdeploy.errors import BundleError, ConfigError, PrefixDeployError
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.backends.trt import BATCH, PAST, SEQUENCE, TOTAL, TrtConfig
from prefixdeploy.runtime.cache import cache_dir
from prefixdeploy.runtime.manifest import GraphEntry, Manifest
from prefixdeploy.vocabulary import PROVIDERS

TRT_FIELDS = tuple(f.name for f in fields(TrtConfig))  # fp16, max_batch, max_sequence, max_total, workspace_mb


CPU, CUDA, TENSORRT = PROVIDERS
ORT_NAMES = {CPU: "CPUExecutionProvider", CUDA: "CUDAExecutionProvider", TENSORRT: "TensorrtExecutionProvider"}
_INSTALL = {
    CUDA: (
        "pip install onnxruntime-gpu (in place of onnxruntime; PyPI's 1.31 builds need CUDA 13's cuBLAS, cudart and "
        "cuRAND on the library path, see docs/gpu.md)"
    ),
    TENSORRT: (
        "pip install onnxruntime-gpu (in place of onnxruntime) with the TensorRT 10 libraries on the library path; "
        "on Jetson, JetPack 6's onnxruntime-gpu wheel"
    ),
}


@dataclass(frozen=True, kw_only=True)
class ProviderConfig:
    """How an ONNX Runtime session uses its execution provider. The TensorRT sizes are the TensorRT backend's."""

    provider: str = CPU
    device_id: int = 0  # the CUDA device (CUDA and TensorRT providers)
    gpu_mem_limit_mb: int | None = None  # CUDA provider's arena limit; None: ONNX Runtime's default (no limit)
    trt: TrtConfig = field(default_factory=TrtConfig)  # TensorRT provider: fp16, profile sizes, workspace
    cache_dir: Path | None = None  # TensorRT provider's engine and timing caches; None: $PREFIXDEPLOY_CACHE/ort-trt

    def __post_init__(self):
        if self.provider not in PROVIDERS:
            raise ConfigError(f"provider must be one of {', '.join(PROVIDERS)}, got {self.provider!r}", "provider")
        if not isinstance(self.device_id, int) or self.device_id < 0:
            raise PrefixDeployError(f"device_id must be an integer ≥ 0, got {self.device_id!r}")
        if self.gpu_mem_limit_mb is not None and self.gpu_mem_limit_mb < 1:
            raise PrefixDeployError(f"gpu_mem_limit_mb must be ≥ 1 or None, got {self.gpu_mem_limit_mb!r}")


# -- which graph ----------------------------------------------------------------------------------------------------


def unusable_reason(entry: GraphEntry, provider: str) -> str | None:
    """Why `provider` should not run this graph (None: it can)."""
    if provider == CPU or entry.kind == "portable":
        return None
    if provider == TENSORRT:
        return "the TensorRT provider takes standard ONNX ops only, and ONNX Runtime graphs hold com.microsoft ops"
    if entry.precision != "fp16":
        # ONNX Runtime's docs/OperatorKernels.md, CUDAExecutionProvider, domain com.microsoft: GroupQueryAttention
        # is registered for T = float16 and bfloat16 only (MatMulNBits and SkipSimplifiedLayerNormalization also
        # take float). The fp32, int8 and int4 graphs keep float32 activations, so every layer's attention would
        # fall back to the CPU with two device copies per layer and step: the portable fp32 graph runs whole on
        # the GPU instead, and the fp16 graph's fused attention is what the CUDA provider runs natively.
        return f"the {entry.precision} graph's GroupQueryAttention is float32, which the CUDA provider lacks"
    return None


def graph_precision(provider: str, precision: str | None) -> str | None:
    """The precision of the graph file to load: the TensorRT provider builds fp16 itself from the fp32 graph."""
    if provider != TENSORRT or precision is None:
        return precision
    if precision not in ("fp32", "fp16"):
        raise ConfigError(
            f"TensorRT runs the portable fp32 graph at fp32 or fp16, not {precision} (its int8 needs "
            "calibration); use precision fp16, or ONNX Runtime on the CPU or CUDA for int8/int4",
            "precision",
        )
    return "fp32"


def select_graph(graphs: list[GraphEntry], provider: str, graph: str | None, precision: str | None) -> GraphEntry:
    """The first listed graph `provider` can run, of file `graph` and precision `precision` when given."""
    want = graph_precision(provider, precision)
    chosen = [g for g in graphs if (graph is None or g.file == graph) and (want is None or g.precision == want)]
    usable = [g for g in chosen if unusable_reason(g, provider) is None]
    if usable:
        return usable[0]
    have = ", ".join(f"{g.file} ({g.kind}, {g.precision})" for g in graphs)
    wanted = " ".join(x for x in (graph, precision) if x) or "any graph"
    why = "; ".join(sorted({reason for g in chosen if (reason := unusable_reason(g, provider))}))
    why = f" ({why})" if why else ""
    raise BundleError(f"this bundle has no {wanted} for provider {provider!r}{why}; it has: {have}")


# -- the session's providers ------------------------------------------------------------------------------------------


def check_available(provider: str, available: list[str]) -> None:
    """A one-line error naming the package to install when `provider` is not in this onnxruntime."""
    name = ORT_NAMES[provider]
    if name not in available:
        raise ConfigError(
            f"provider {provider} needs ONNX Runtime's {name}, which this onnxruntime lacks (it has "
            f"{', '.join(available) or 'none'}): {_INSTALL[provider]}",
            "provider",
        )


def ort_providers(provider: str, manifest: Manifest, options: dict) -> list | None:
    """`load_bundle`'s providers for an ONNX Runtime session: None for the CPU (the default session).

    Takes the provider's keyword options out of `options` (device_id, gpu_mem_limit_mb, cache_dir and the TensorRT
    sizes fp16, max_batch, max_sequence, max_total, workspace_mb); the rest stay for the backend.
    """
    if provider == CPU:
        return None
    own = {k: options.pop(k) for k in ("device_id", "gpu_mem_limit_mb", "cache_dir") if k in options}
    trt = TrtConfig(**{k: options.pop(k) for k in TRT_FIELDS if k in options})
    config = ProviderConfig(provider=provider, trt=trt, **own)
    return session_providers(config, manifest, onnxruntime.get_available_providers())


def session_providers(config: ProviderConfig, manifest: Manifest, available: list[str]) -> list:
    """`providers=` for `onnxruntime.InferenceSession`: the chosen provider first, CPU last (ORT's fallback).

    The TensorRT provider is followed by the CUDA provider when present, as ONNX Runtime recommends, so that a node
    TensorRT refuses runs on the GPU rather than the CPU.
    """
    check_available(config.provider, available)
    providers: list = []
    if config.provider == TENSORRT:
        providers.append((ORT_NAMES[TENSORRT], tensorrt_options(config, manifest)))
    if config.provider in (CUDA, TENSORRT) and ORT_NAMES[CUDA] in available:
        providers.append((ORT_NAMES[CUDA], cuda_options(config)))
    return [*providers, ORT_NAMES[CPU]]


def cuda_options(config: ProviderConfig) -> dict[str, str]:
    """CUDA provider options. kSameAsRequested: the arena grows by what a call needs, not to the next power of two
    (ONNX Runtime's advice for inputs whose shapes change call by call, as a growing KV cache does; on a Jetson the
    GPU shares the 8 GB with the CPU)."""
    options = {"device_id": str(config.device_id), "arena_extend_strategy": "kSameAsRequested"}
    if config.gpu_mem_limit_mb is not None:
        options["gpu_mem_limit"] = str(config.gpu_mem_limit_mb << 20)
    return options


def tensorrt_options(config: ProviderConfig, manifest: Manifest) -> dict[str, str]:
    """TensorRT provider options: engine and timing caches on disk, fp16 on request, and one explicit profile.

    ONNX Runtime needs min, opt and max shapes for every dynamic input once any is given, and compares them with
    the cached engine's to decide on a rebuild. The profile is the TensorRT backend's (`TrtConfig.ranges`): batch
    1..max_batch, tokens per call 1..max_sequence, cache up to max_total = prefix + prompt + new tokens.
    """
    trt, cache = config.trt, str(Path(config.cache_dir or default_cache_dir()) / engine_cache_name(manifest, config))
    low, opt, high = profile_shapes(portable_inputs(manifest), trt.ranges())
    options = {
        "device_id": str(config.device_id),
        "trt_fp16_enable": str(trt.fp16),
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": cache,
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": cache,
        "trt_profile_min_shapes": low,
        "trt_profile_opt_shapes": opt,
        "trt_profile_max_shapes": high,
    }
    if trt.workspace_mb is not None:
        options["trt_max_workspace_size"] = str(trt.workspace_mb << 20)
    return options


def engine_cache_name(manifest: Manifest, config: ProviderConfig) -> str:
    """A cache directory per graph content, onnxruntime version and precision. ONNX Runtime names its cached
    engines after the model's path, not its weights, so a re-exported bundle must not find the old engines."""
    portable = next(g.file for g in manifest.graphs if g.kind == "portable")
    digest = hashlib.sha256()
    for rel in (portable, portable + ".data"):
        digest.update(f"{rel}={manifest.files.get(rel, '-')};".encode())
    precision = "fp16" if config.trt.fp16 else "fp32"
    return f"{digest.hexdigest()[:16]}-ort{onnxruntime.__version__}-{precision}"


def default_cache_dir() -> Path:
    return cache_dir("ort-trt")


def portable_inputs(manifest: Manifest) -> dict[str, tuple[int | str, ...]]:
    """The portable graph's inputs as the exporter writes them: per dimension a size, or the dynamic axis's name."""
    m = manifest.model
    shapes: dict[str, tuple[int | str, ...]] = {
        io_names.INPUT_IDS: (BATCH, SEQUENCE),  # (B, T)
        io_names.ATTENTION_MASK: (BATCH, TOTAL),  # (B, S)
        io_names.POSITION_IDS: (BATCH, SEQUENCE),  # (B, T)
    }
    if manifest.is_bank:
        shapes[io_names.PREFIX_IDS] = (BATCH,)  # (B,)
    for i in range(m.num_layers):
        kv = (BATCH, m.num_key_value_heads, PAST, m.head_dim)  # (B, H_kv, S − T, D)
        shapes[io_names.PAST_KEY.format(i)] = shapes[io_names.PAST_VALUE.format(i)] = kv
    return shapes


def profile_shapes(
    shapes: dict[str, tuple[int | str, ...]], ranges: dict[str, tuple[int, int, int]]
) -> tuple[str, str, str]:
    """trt_profile_min/opt/max_shapes strings, "name:1x3x0x64,name2:…" (trtexec's --minShapes format)."""

    def corner(k: int) -> str:
        sizes = {name: (ranges[d][k] if isinstance(d, str) else d for d in shape) for name, shape in shapes.items()}
        return ",".join(f"{name}:{'x'.join(map(str, dims))}" for name, dims in sizes.items())

    return corner(0), corner(1), corner(2)
