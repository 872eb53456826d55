# Type stubs of the `tensorrt` Python package (TensorRT 10.x API), for mypy over prefixdeploy's TensorRT backend.
#
# Source: the `tensorrt-stubs` package 10.8.0.43.1 on PyPI (https://github.com/sync-dev-org/tensorrt-stubs), file
# tensorrt_bindings/tensorrt.pyi (what `tensorrt` re-exports), MIT licence (typings/tensorrt/LICENSE). 10.8 is the
# oldest release on PyPI; JetPack 6 ships TensorRT 10.3, so an API added between 10.4 and 10.8 would pass here.
# Made by typings/make_tensorrt_stub.py, which changed: add_scale_nd's defaults before the non-default `channel_axis`
# dropped; parameters named `in` (a keyword) renamed `in_`; `bool` in annotations made `builtins.bool` (the module's
# own `bool` is a DataType); the undefined `capsule` and bare `...` annotations made `typing.Any`; docstrings removed
# (ast.unparse normalizes the formatting); `__version__` added. Its remaining inconsistencies (self types, overrides)
# are silenced for this module only, in pyproject.toml's [tool.mypy].
from __future__ import annotations
import builtins
import numpy
import typing
__all__ = ['APILanguage', 'ActivationType', 'AllocatorFlag', 'BoundingBoxFormat', 'Builder', 'BuilderFlag', 'CalibrationAlgoType', 'CumulativeOperation', 'DataType', 'DeviceType', 'DimensionOperation', 'Dims', 'Dims2', 'Dims3', 'Dims4', 'DimsExprs', 'DimsHW', 'DynamicPluginTensorDesc', 'ElementWiseOperation', 'EngineCapability', 'EngineInspector', 'ErrorCode', 'ErrorCodeTRT', 'ExecutionContextAllocationStrategy', 'FallbackString', 'FillOperation', 'GatherMode', 'HardwareCompatibilityLevel', 'IActivationLayer', 'IAlgorithm', 'IAlgorithmContext', 'IAlgorithmIOInfo', 'IAlgorithmSelector', 'IAlgorithmVariant', 'IAssertionLayer', 'IBuilderConfig', 'ICastLayer', 'IConcatenationLayer', 'IConditionLayer', 'IConstantLayer', 'IConvolutionLayer', 'ICudaEngine', 'ICumulativeLayer', 'IDebugListener', 'IDeconvolutionLayer', 'IDequantizeLayer', 'IDimensionExpr', 'IDynamicQuantizeLayer', 'IEinsumLayer', 'IElementWiseLayer', 'IErrorRecorder', 'IExecutionContext', 'IExprBuilder', 'IFillLayer', 'IGatherLayer', 'IGpuAllocator', 'IGpuAsyncAllocator', 'IGridSampleLayer', 'IHostMemory', 'IIdentityLayer', 'IIfConditional', 'IIfConditionalBoundaryLayer', 'IIfConditionalInputLayer', 'IIfConditionalOutputLayer', 'IInt8Calibrator', 'IInt8EntropyCalibrator', 'IInt8EntropyCalibrator2', 'IInt8LegacyCalibrator', 'IInt8MinMaxCalibrator', 'IIteratorLayer', 'ILRNLayer', 'ILayer', 'ILogger', 'ILoop', 'ILoopBoundaryLayer', 'ILoopOutputLayer', 'IMatrixMultiplyLayer', 'INMSLayer', 'INetworkDefinition', 'INonZeroLayer', 'INormalizationLayer', 'IOneHotLayer', 'IOptimizationProfile', 'IOutputAllocator', 'IPaddingLayer', 'IParametricReLULayer', 'IPluginCapability', 'IPluginCreator', 'IPluginCreatorInterface', 'IPluginCreatorV3One', 'IPluginCreatorV3Quick', 'IPluginRegistry', 'IPluginResource', 'IPluginResourceContext', 'IPluginV2', 'IPluginV2DynamicExt', 'IPluginV2DynamicExtBase', 'IPluginV2Ext', 'IPluginV2Layer', 'IPluginV3', 'IPluginV3Layer', 'IPluginV3OneBuild', 'IPluginV3OneBuildV2', 'IPluginV3OneCore', 'IPluginV3OneRuntime', 'IPluginV3QuickBuild', 'IPluginV3QuickCore', 'IPluginV3QuickRuntime', 'IPoolingLayer', 'IProfiler', 'IProgressMonitor', 'IQuantizeLayer', 'IRaggedSoftMaxLayer', 'IRecurrenceLayer', 'IReduceLayer', 'IResizeLayer', 'IReverseSequenceLayer', 'IScaleLayer', 'IScatterLayer', 'ISelectLayer', 'ISerializationConfig', 'IShapeLayer', 'IShuffleLayer', 'ISliceLayer', 'ISoftMaxLayer', 'ISqueezeLayer', 'IStreamReader', 'IStreamReaderV2', 'ITensor', 'ITimingCache', 'ITopKLayer', 'ITripLimitLayer', 'IUnaryLayer', 'IUnsqueezeLayer', 'IVersionedInterface', 'InterfaceInfo', 'InterpolationMode', 'LayerInformationFormat', 'LayerType', 'Logger', 'LoopOutput', 'MatrixOperation', 'MemoryPoolType', 'NetworkDefinitionCreationFlag', 'NodeIndices', 'OnnxParser', 'OnnxParserFlag', 'OnnxParserRefitter', 'PaddingMode', 'ParserError', 'Permutation', 'PluginCapabilityType', 'PluginCreatorVersion', 'PluginField', 'PluginFieldCollection', 'PluginFieldCollection_', 'PluginFieldType', 'PluginTensorDesc', 'PoolingType', 'PreviewFeature', 'Profiler', 'ProfilingVerbosity', 'QuantizationFlag', 'ReduceOperation', 'Refitter', 'ResizeCoordinateTransformation', 'ResizeRoundMode', 'ResizeSelector', 'Runtime', 'RuntimePlatform', 'SampleMode', 'ScaleMode', 'ScatterMode', 'SeekPosition', 'SerializationFlag', 'SubGraphCollection', 'TacticSource', 'TempfileControlFlag', 'TensorFormat', 'TensorIOMode', 'TensorLocation', 'TensorRTPhase', 'TilingOptimizationLevel', 'TimingCacheKey', 'TimingCacheValue', 'TopKOperation', 'TripLimit', 'UnaryOperation', 'Weights', 'WeightsRole', 'bfloat16', 'bool', 'float16', 'float32', 'fp4', 'fp8', 'get_builder_plugin_registry', 'get_nv_onnx_parser_version', 'get_plugin_registry', 'init_libnvinfer_plugins', 'int32', 'int4', 'int64', 'int8', 'uint8']

class APILanguage:
    CPP: typing.ClassVar[APILanguage]
    PYTHON: typing.ClassVar[APILanguage]
    __members__: typing.ClassVar[dict[str, APILanguage]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ActivationType:
    CLIP: typing.ClassVar[ActivationType]
    ELU: typing.ClassVar[ActivationType]
    GELU_ERF: typing.ClassVar[ActivationType]
    GELU_TANH: typing.ClassVar[ActivationType]
    HARD_SIGMOID: typing.ClassVar[ActivationType]
    LEAKY_RELU: typing.ClassVar[ActivationType]
    RELU: typing.ClassVar[ActivationType]
    SCALED_TANH: typing.ClassVar[ActivationType]
    SELU: typing.ClassVar[ActivationType]
    SIGMOID: typing.ClassVar[ActivationType]
    SOFTPLUS: typing.ClassVar[ActivationType]
    SOFTSIGN: typing.ClassVar[ActivationType]
    TANH: typing.ClassVar[ActivationType]
    THRESHOLDED_RELU: typing.ClassVar[ActivationType]
    __members__: typing.ClassVar[dict[str, ActivationType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class AllocatorFlag:
    RESIZABLE: typing.ClassVar[AllocatorFlag]
    __members__: typing.ClassVar[dict[str, AllocatorFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class BoundingBoxFormat:
    CENTER_SIZES: typing.ClassVar[BoundingBoxFormat]
    CORNER_PAIRS: typing.ClassVar[BoundingBoxFormat]
    __members__: typing.ClassVar[dict[str, BoundingBoxFormat]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Builder:
    error_recorder: IErrorRecorder
    max_threads: int

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def __init__(self, logger: ILogger) -> None:
        ...

    def build_engine_with_config(self, network: INetworkDefinition, config: IBuilderConfig) -> ICudaEngine:
        ...

    def build_serialized_network(self, network: INetworkDefinition, config: IBuilderConfig) -> IHostMemory:
        ...

    def create_builder_config(self) -> IBuilderConfig:
        ...

    def create_network(self, flags: int=0) -> INetworkDefinition:
        ...

    def create_optimization_profile(self) -> IOptimizationProfile:
        ...

    def get_plugin_registry(self) -> IPluginRegistry:
        ...

    def is_network_supported(self, network: INetworkDefinition, config: IBuilderConfig) -> builtins.bool:
        ...

    def reset(self) -> None:
        ...

    @property
    def logger(self) -> ILogger:
        ...

    @property
    def max_DLA_batch_size(self) -> int:
        ...

    @property
    def num_DLA_cores(self) -> int:
        ...

    @property
    def platform_has_fast_fp16(self) -> builtins.bool:
        ...

    @property
    def platform_has_fast_int8(self) -> builtins.bool:
        ...

    @property
    def platform_has_tf32(self) -> builtins.bool:
        ...

class BuilderFlag:
    BF16: typing.ClassVar[BuilderFlag]
    DEBUG: typing.ClassVar[BuilderFlag]
    DIRECT_IO: typing.ClassVar[BuilderFlag]
    DISABLE_COMPILATION_CACHE: typing.ClassVar[BuilderFlag]
    DISABLE_TIMING_CACHE: typing.ClassVar[BuilderFlag]
    EDITABLE_TIMING_CACHE: typing.ClassVar[BuilderFlag]
    ERROR_ON_TIMING_CACHE_MISS: typing.ClassVar[BuilderFlag]
    EXCLUDE_LEAN_RUNTIME: typing.ClassVar[BuilderFlag]
    FP16: typing.ClassVar[BuilderFlag]
    FP4: typing.ClassVar[BuilderFlag]
    FP8: typing.ClassVar[BuilderFlag]
    GPU_FALLBACK: typing.ClassVar[BuilderFlag]
    INT4: typing.ClassVar[BuilderFlag]
    INT8: typing.ClassVar[BuilderFlag]
    MONITOR_MEMORY: typing.ClassVar[BuilderFlag]
    OBEY_PRECISION_CONSTRAINTS: typing.ClassVar[BuilderFlag]
    PREFER_PRECISION_CONSTRAINTS: typing.ClassVar[BuilderFlag]
    REFIT: typing.ClassVar[BuilderFlag]
    REFIT_IDENTICAL: typing.ClassVar[BuilderFlag]
    REFIT_INDIVIDUAL: typing.ClassVar[BuilderFlag]
    REJECT_EMPTY_ALGORITHMS: typing.ClassVar[BuilderFlag]
    SAFETY_SCOPE: typing.ClassVar[BuilderFlag]
    SPARSE_WEIGHTS: typing.ClassVar[BuilderFlag]
    STRICT_NANS: typing.ClassVar[BuilderFlag]
    STRIP_PLAN: typing.ClassVar[BuilderFlag]
    TF32: typing.ClassVar[BuilderFlag]
    VERSION_COMPATIBLE: typing.ClassVar[BuilderFlag]
    WEIGHTLESS: typing.ClassVar[BuilderFlag]
    WEIGHT_STREAMING: typing.ClassVar[BuilderFlag]
    __members__: typing.ClassVar[dict[str, BuilderFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class CalibrationAlgoType:
    ENTROPY_CALIBRATION: typing.ClassVar[CalibrationAlgoType]
    ENTROPY_CALIBRATION_2: typing.ClassVar[CalibrationAlgoType]
    LEGACY_CALIBRATION: typing.ClassVar[CalibrationAlgoType]
    MINMAX_CALIBRATION: typing.ClassVar[CalibrationAlgoType]
    __members__: typing.ClassVar[dict[str, CalibrationAlgoType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class CumulativeOperation:
    SUM: typing.ClassVar[CumulativeOperation]
    __members__: typing.ClassVar[dict[str, CumulativeOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class DataType:
    BF16: typing.ClassVar[DataType]
    BOOL: typing.ClassVar[DataType]
    FLOAT: typing.ClassVar[DataType]
    FP4: typing.ClassVar[DataType]
    FP8: typing.ClassVar[DataType]
    HALF: typing.ClassVar[DataType]
    INT32: typing.ClassVar[DataType]
    INT4: typing.ClassVar[DataType]
    INT64: typing.ClassVar[DataType]
    INT8: typing.ClassVar[DataType]
    UINT8: typing.ClassVar[DataType]
    __members__: typing.ClassVar[dict[str, DataType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def itemsize(self):
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class DeviceType:
    DLA: typing.ClassVar[DeviceType]
    GPU: typing.ClassVar[DeviceType]
    __members__: typing.ClassVar[dict[str, DeviceType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class DimensionOperation:
    CEIL_DIV: typing.ClassVar[DimensionOperation]
    EQUAL: typing.ClassVar[DimensionOperation]
    FLOOR_DIV: typing.ClassVar[DimensionOperation]
    LESS: typing.ClassVar[DimensionOperation]
    MAX: typing.ClassVar[DimensionOperation]
    MIN: typing.ClassVar[DimensionOperation]
    PROD: typing.ClassVar[DimensionOperation]
    SUB: typing.ClassVar[DimensionOperation]
    SUM: typing.ClassVar[DimensionOperation]
    __members__: typing.ClassVar[dict[str, DimensionOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Dims:
    MAX_DIMS: typing.ClassVar[int] = 8
    __hash__: typing.ClassVar[None] = None

    @typing.overload
    def __eq__(self, arg0: list) -> builtins.bool:
        ...

    @typing.overload
    def __eq__(self, arg0: tuple) -> builtins.bool:
        ...

    @typing.overload
    def __getitem__(self, arg0: int) -> int:
        ...

    @typing.overload
    def __getitem__(self, arg0: slice) -> tuple:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, shape: list[int]) -> None:
        ...

    def __len__(self) -> int:
        ...

    def __repr__(self) -> str:
        ...

    @typing.overload
    def __setitem__(self, arg0: int, arg1: int) -> None:
        ...

    @typing.overload
    def __setitem__(self, arg0: slice, arg1: Dims) -> None:
        ...

    def __str__(self) -> str:
        ...

class Dims2(Dims):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, dim0: int, dim1: int) -> None:
        ...

    @typing.overload
    def __init__(self, shape: list[int]) -> None:
        ...

class Dims3(Dims):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, dim0: int, dim1: int, dim2: int) -> None:
        ...

    @typing.overload
    def __init__(self, shape: list[int]) -> None:
        ...

class Dims4(Dims):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, dim0: int, dim1: int, dim2: int, dim3: int) -> None:
        ...

    @typing.overload
    def __init__(self, shape: list[int]) -> None:
        ...

class DimsExprs:

    def __getitem__(self, arg0: int) -> IDimensionExpr:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: list[IDimensionExpr]) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: int) -> None:
        ...

    def __len__(self) -> int:
        ...

    def __setitem__(self, arg0: int, arg1: IDimensionExpr) -> None:
        ...

class DimsHW(Dims2):
    h: int
    w: int

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, h: int, w: int) -> None:
        ...

    @typing.overload
    def __init__(self, shape: list[int]) -> None:
        ...

class DynamicPluginTensorDesc:
    desc: PluginTensorDesc
    max: Dims
    min: Dims
    opt: Dims

    def __init__(self) -> None:
        ...

class ElementWiseOperation:
    AND: typing.ClassVar[ElementWiseOperation]
    DIV: typing.ClassVar[ElementWiseOperation]
    EQUAL: typing.ClassVar[ElementWiseOperation]
    FLOOR_DIV: typing.ClassVar[ElementWiseOperation]
    GREATER: typing.ClassVar[ElementWiseOperation]
    LESS: typing.ClassVar[ElementWiseOperation]
    MAX: typing.ClassVar[ElementWiseOperation]
    MIN: typing.ClassVar[ElementWiseOperation]
    OR: typing.ClassVar[ElementWiseOperation]
    POW: typing.ClassVar[ElementWiseOperation]
    PROD: typing.ClassVar[ElementWiseOperation]
    SUB: typing.ClassVar[ElementWiseOperation]
    SUM: typing.ClassVar[ElementWiseOperation]
    XOR: typing.ClassVar[ElementWiseOperation]
    __members__: typing.ClassVar[dict[str, ElementWiseOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class EngineCapability:
    DLA_STANDALONE: typing.ClassVar[EngineCapability]
    SAFETY: typing.ClassVar[EngineCapability]
    STANDARD: typing.ClassVar[EngineCapability]
    __members__: typing.ClassVar[dict[str, EngineCapability]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class EngineInspector:
    error_recorder: IErrorRecorder
    execution_context: IExecutionContext

    def get_engine_information(self, format: LayerInformationFormat) -> str:
        ...

    def get_layer_information(self, layer_index: int, format: LayerInformationFormat) -> str:
        ...

class ErrorCode:
    INTERNAL_ERROR: typing.ClassVar[ErrorCode]
    INVALID_GRAPH: typing.ClassVar[ErrorCode]
    INVALID_NODE: typing.ClassVar[ErrorCode]
    INVALID_VALUE: typing.ClassVar[ErrorCode]
    MEM_ALLOC_FAILED: typing.ClassVar[ErrorCode]
    MODEL_DESERIALIZE_FAILED: typing.ClassVar[ErrorCode]
    REFIT_FAILED: typing.ClassVar[ErrorCode]
    SUCCESS: typing.ClassVar[ErrorCode]
    UNSUPPORTED_GRAPH: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE_ATTR: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE_DATATYPE: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE_DYNAMIC: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE_INPUT: typing.ClassVar[ErrorCode]
    UNSUPPORTED_NODE_SHAPE: typing.ClassVar[ErrorCode]
    __members__: typing.ClassVar[dict[str, ErrorCode]]

    @staticmethod
    def name(*args, **kwargs):
        ...

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    @typing.overload
    def __repr__(self) -> str:
        ...

    @typing.overload
    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    @typing.overload
    def __str__(self) -> str:
        ...

    @typing.overload
    def __str__(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ErrorCodeTRT:
    FAILED_ALLOCATION: typing.ClassVar[ErrorCodeTRT]
    FAILED_COMPUTATION: typing.ClassVar[ErrorCodeTRT]
    FAILED_EXECUTION: typing.ClassVar[ErrorCodeTRT]
    FAILED_INITIALIZATION: typing.ClassVar[ErrorCodeTRT]
    INTERNAL_ERROR: typing.ClassVar[ErrorCodeTRT]
    INVALID_ARGUMENT: typing.ClassVar[ErrorCodeTRT]
    INVALID_CONFIG: typing.ClassVar[ErrorCodeTRT]
    INVALID_STATE: typing.ClassVar[ErrorCodeTRT]
    SUCCESS: typing.ClassVar[ErrorCodeTRT]
    UNSPECIFIED_ERROR: typing.ClassVar[ErrorCodeTRT]
    UNSUPPORTED_STATE: typing.ClassVar[ErrorCodeTRT]
    __members__: typing.ClassVar[dict[str, ErrorCodeTRT]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ExecutionContextAllocationStrategy:
    ON_PROFILE_CHANGE: typing.ClassVar[ExecutionContextAllocationStrategy]
    STATIC: typing.ClassVar[ExecutionContextAllocationStrategy]
    USER_MANAGED: typing.ClassVar[ExecutionContextAllocationStrategy]
    __members__: typing.ClassVar[dict[str, ExecutionContextAllocationStrategy]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class FallbackString:

    @typing.overload
    def __init__(self, arg0: str) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: str) -> None:
        ...

class FillOperation:
    LINSPACE: typing.ClassVar[FillOperation]
    RANDOM_NORMAL: typing.ClassVar[FillOperation]
    RANDOM_UNIFORM: typing.ClassVar[FillOperation]
    __members__: typing.ClassVar[dict[str, FillOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class GatherMode:
    DEFAULT: typing.ClassVar[GatherMode]
    ELEMENT: typing.ClassVar[GatherMode]
    ND: typing.ClassVar[GatherMode]
    __members__: typing.ClassVar[dict[str, GatherMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class HardwareCompatibilityLevel:
    AMPERE_PLUS: typing.ClassVar[HardwareCompatibilityLevel]
    NONE: typing.ClassVar[HardwareCompatibilityLevel]
    __members__: typing.ClassVar[dict[str, HardwareCompatibilityLevel]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class IActivationLayer(ILayer):
    alpha: float
    beta: float
    type: ActivationType

class IAlgorithm:

    def get_algorithm_io_info(self, index: int) -> IAlgorithmIOInfo:
        ...

    @property
    def algorithm_variant(self) -> IAlgorithmVariant:
        ...

    @property
    def timing_msec(self) -> float:
        ...

    @property
    def workspace_size(self) -> int:
        ...

class IAlgorithmContext:

    def get_shape(self, index: int) -> list[Dims]:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def num_inputs(self) -> int:
        ...

    @property
    def num_outputs(self) -> int:
        ...

class IAlgorithmIOInfo:

    @property
    def components_per_element(self) -> int:
        ...

    @property
    def dtype(self) -> DataType:
        ...

    @property
    def strides(self) -> Dims:
        ...

    @property
    def vectorized_dim(self) -> int:
        ...

class IAlgorithmSelector:

    def __init__(self) -> None:
        ...

    def report_algorithms(self, contexts: list[IAlgorithmContext], choices: list[IAlgorithm]) -> None:
        ...

    def select_algorithms(self, context: IAlgorithmContext, choices: list[IAlgorithm]) -> list[int]:
        ...

class IAlgorithmVariant:

    @property
    def implementation(self) -> int:
        ...

    @property
    def tactic(self) -> int:
        ...

class IAssertionLayer(ILayer):
    message: str

class IBuilderConfig:
    DLA_core: int
    algorithm_selector: IAlgorithmSelector
    avg_timing_iterations: int
    builder_optimization_level: int
    default_device_type: DeviceType
    engine_capability: EngineCapability
    flags: int
    hardware_compatibility_level: HardwareCompatibilityLevel
    int8_calibrator: IInt8Calibrator
    l2_limit_for_tiling: int
    max_aux_streams: int
    max_num_tactics: int
    plugins_to_serialize: list[str]
    profile_stream: int
    profiling_verbosity: ProfilingVerbosity
    progress_monitor: IProgressMonitor
    quantization_flags: int
    runtime_platform: RuntimePlatform
    tiling_optimization_level: TilingOptimizationLevel

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def add_optimization_profile(self, profile: IOptimizationProfile) -> int:
        ...

    def can_run_on_DLA(self, layer: ILayer) -> builtins.bool:
        ...

    def clear_flag(self, flag: BuilderFlag) -> None:
        ...

    def clear_quantization_flag(self, flag: QuantizationFlag) -> None:
        ...

    def create_timing_cache(self, serialized_timing_cache: typing_extensions.Buffer) -> ITimingCache:
        ...

    def get_calibration_profile(self) -> IOptimizationProfile:
        ...

    def get_device_type(self, layer: ILayer) -> DeviceType:
        ...

    def get_flag(self, flag: BuilderFlag) -> builtins.bool:
        ...

    def get_memory_pool_limit(self, pool: MemoryPoolType) -> int:
        ...

    def get_preview_feature(self, feature: PreviewFeature) -> builtins.bool:
        ...

    def get_quantization_flag(self, flag: QuantizationFlag) -> builtins.bool:
        ...

    def get_tactic_sources(self) -> int:
        ...

    def get_timing_cache(self) -> ITimingCache:
        ...

    def is_device_type_set(self, layer: ILayer) -> builtins.bool:
        ...

    def reset(self) -> None:
        ...

    def reset_device_type(self, layer: ILayer) -> None:
        ...

    def set_calibration_profile(self, profile: IOptimizationProfile) -> builtins.bool:
        ...

    def set_device_type(self, layer: ILayer, device_type: DeviceType) -> None:
        ...

    def set_flag(self, flag: BuilderFlag) -> None:
        ...

    def set_memory_pool_limit(self, pool: MemoryPoolType, pool_size: int) -> None:
        ...

    def set_preview_feature(self, feature: PreviewFeature, enable: builtins.bool) -> None:
        ...

    def set_quantization_flag(self, flag: QuantizationFlag) -> None:
        ...

    def set_tactic_sources(self, tactic_sources: int) -> builtins.bool:
        ...

    def set_timing_cache(self, cache: ITimingCache, ignore_mismatch: builtins.bool) -> builtins.bool:
        ...

    @property
    def num_optimization_profiles(self) -> int:
        ...

class ICastLayer(ILayer):
    to_type: DataType

class IConcatenationLayer(ILayer):
    axis: int

class IConditionLayer(IIfConditionalBoundaryLayer):
    ...

class IConstantLayer(ILayer):
    shape: Dims

    @property
    def weights(self) -> typing.Any:
        ...

    @weights.setter
    def weights(self, arg1: Weights) -> None:
        ...

class IConvolutionLayer(ILayer):
    dilation_nd: Dims
    kernel_size_nd: Dims
    num_groups: int
    num_output_maps: int
    padding_mode: PaddingMode
    padding_nd: Dims
    post_padding: Dims
    pre_padding: Dims
    stride_nd: Dims

    @property
    def bias(self) -> typing.Any:
        ...

    @bias.setter
    def bias(self, arg1: Weights) -> None:
        ...

    @property
    def kernel(self) -> typing.Any:
        ...

    @kernel.setter
    def kernel(self, arg1: Weights) -> None:
        ...

class ICudaEngine:
    error_recorder: IErrorRecorder
    weight_streaming_budget: int
    weight_streaming_budget_v2: int

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def __getitem__(self, arg0: int) -> str:
        ...

    def create_engine_inspector(self) -> EngineInspector:
        ...

    def create_execution_context(self, strategy: ExecutionContextAllocationStrategy=...) -> IExecutionContext:
        ...

    def create_execution_context_without_device_memory(self) -> IExecutionContext:
        ...

    def create_serialization_config(self) -> ISerializationConfig:
        ...

    def get_device_memory_size_for_profile(self, profile_index: int) -> int:
        ...

    def get_device_memory_size_for_profile_v2(self, profile_index: int) -> int:
        ...

    @typing.overload
    def get_tensor_bytes_per_component(self, name: str) -> int:
        ...

    @typing.overload
    def get_tensor_bytes_per_component(self, name: str, profile_index: int) -> int:
        ...

    @typing.overload
    def get_tensor_components_per_element(self, name: str) -> int:
        ...

    @typing.overload
    def get_tensor_components_per_element(self, name: str, profile_index: int) -> int:
        ...

    def get_tensor_dtype(self, name: str) -> DataType:
        ...

    @typing.overload
    def get_tensor_format(self, name: str) -> TensorFormat:
        ...

    @typing.overload
    def get_tensor_format(self, name: str, profile_index: int) -> TensorFormat:
        ...

    @typing.overload
    def get_tensor_format_desc(self, name: str) -> str:
        ...

    @typing.overload
    def get_tensor_format_desc(self, name: str, profile_index: int) -> str:
        ...

    def get_tensor_location(self, name: str) -> TensorLocation:
        ...

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        ...

    def get_tensor_name(self, index: int) -> str:
        ...

    def get_tensor_profile_shape(self, name: str, profile_index: int) -> list[Dims]:
        ...

    def get_tensor_profile_values(self, name: int, profile_index: str) -> list[list[int]]:
        ...

    def get_tensor_shape(self, name: str) -> Dims:
        ...

    @typing.overload
    def get_tensor_vectorized_dim(self, name: str) -> int:
        ...

    @typing.overload
    def get_tensor_vectorized_dim(self, name: str, profile_index: int) -> int:
        ...

    def get_weight_streaming_automatic_budget(self) -> int:
        ...

    def is_debug_tensor(self, name: str) -> builtins.bool:
        ...

    def is_shape_inference_io(self, name: str) -> builtins.bool:
        ...

    def serialize(self) -> IHostMemory:
        ...

    def serialize_with_config(self, arg0: ISerializationConfig) -> IHostMemory:
        ...

    @property
    def device_memory_size(self) -> int:
        ...

    @property
    def device_memory_size_v2(self) -> int:
        ...

    @property
    def engine_capability(self) -> EngineCapability:
        ...

    @property
    def hardware_compatibility_level(self) -> typing.Any:
        ...

    @property
    def has_implicit_batch_dimension(self) -> builtins.bool:
        ...

    @property
    def minimum_weight_streaming_budget(self) -> int:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def num_aux_streams(self) -> int:
        ...

    @property
    def num_io_tensors(self) -> int:
        ...

    @property
    def num_layers(self) -> int:
        ...

    @property
    def num_optimization_profiles(self) -> int:
        ...

    @property
    def profiling_verbosity(self) -> typing.Any:
        ...

    @property
    def refittable(self) -> builtins.bool:
        ...

    @property
    def streamable_weights_size(self) -> int:
        ...

    @property
    def tactic_sources(self) -> int:
        ...

    @property
    def weight_streaming_scratch_memory_size(self) -> int:
        ...

class ICumulativeLayer(ILayer):
    exclusive: builtins.bool
    op: CumulativeOperation
    reverse: builtins.bool

class IDebugListener:

    def __init__(self) -> None:
        ...

    def process_debug_tensor(self, addr: typing.Any, location: typing.Any, type: DataType, shape: Dims, name: str, stream: int) -> None:
        ...

class IDeconvolutionLayer(ILayer):
    dilation_nd: Dims
    kernel_size_nd: Dims
    num_groups: int
    num_output_maps: int
    padding_mode: PaddingMode
    padding_nd: Dims
    post_padding: Dims
    pre_padding: Dims
    stride_nd: Dims

    @property
    def bias(self) -> typing.Any:
        ...

    @bias.setter
    def bias(self, arg1: Weights) -> None:
        ...

    @property
    def kernel(self) -> typing.Any:
        ...

    @kernel.setter
    def kernel(self, arg1: Weights) -> None:
        ...

class IDequantizeLayer(ILayer):
    axis: int
    to_type: DataType

class IDimensionExpr:

    def get_constant_value(self) -> int:
        ...

    def is_constant(self) -> builtins.bool:
        ...

    def is_size_tensor(self) -> builtins.bool:
        ...

class IDynamicQuantizeLayer(ILayer):
    axis: int
    block_size: int
    scale_type: DataType
    to_type: DataType

class IEinsumLayer(ILayer):
    equation: str

class IElementWiseLayer(ILayer):
    op: ElementWiseOperation

class IErrorRecorder:

    def __init__(self) -> None:
        ...

    def clear(self) -> None:
        ...

    def get_error_code(self, arg0: int) -> ErrorCodeTRT:
        ...

    def get_error_desc(self, arg0: int) -> str:
        ...

    def has_overflowed(self) -> builtins.bool:
        ...

    def num_errors(self) -> int:
        ...

    def report_error(self, arg0: ErrorCodeTRT, arg1: str) -> builtins.bool:
        ...

    @property
    def MAX_DESC_LENGTH() -> int:
        ...

class IExecutionContext:
    debug_sync: builtins.bool
    enqueue_emits_profile: builtins.bool
    error_recorder: IErrorRecorder
    name: str
    nvtx_verbosity: typing.Any
    persistent_cache_limit: int
    profiler: IProfiler
    temporary_allocator: typing.Any

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def execute_async_v3(self, stream_handle: int) -> builtins.bool:
        ...

    def execute_v2(self, bindings: list[int]) -> builtins.bool:
        ...

    def get_debug_listener(self) -> IDebugListener:
        ...

    def get_debug_state(self, name: str) -> builtins.bool:
        ...

    def get_input_consumed_event(self) -> int:
        ...

    def get_max_output_size(self, name: str) -> int:
        ...

    def get_output_allocator(self, name: str) -> IOutputAllocator:
        ...

    def get_tensor_address(self, name: str) -> int:
        ...

    def get_tensor_shape(self, name: str) -> Dims:
        ...

    def get_tensor_strides(self, name: str) -> Dims:
        ...

    def infer_shapes(self) -> list[str]:
        ...

    def report_to_profiler(self) -> builtins.bool:
        ...

    def set_all_tensors_debug_state(self, flag: builtins.bool) -> builtins.bool:
        ...

    def set_aux_streams(self, aux_streams: list[int]) -> None:
        ...

    def set_debug_listener(self, listener: IDebugListener) -> builtins.bool:
        ...

    def set_device_memory(self, memory: int, size: int) -> None:
        ...

    def set_input_consumed_event(self, event: int) -> builtins.bool:
        ...

    @typing.overload
    def set_input_shape(self, name: str, shape: tuple) -> builtins.bool:
        ...

    @typing.overload
    def set_input_shape(self, name: str, shape: list) -> builtins.bool:
        ...

    @typing.overload
    def set_input_shape(self, name: str, shape: Dims) -> builtins.bool:
        ...

    def set_optimization_profile_async(self, profile_index: int, stream_handle: int) -> builtins.bool:
        ...

    def set_output_allocator(self, name: str, output_allocator: IOutputAllocator) -> builtins.bool:
        ...

    def set_tensor_address(self, name: str, memory: int) -> builtins.bool:
        ...

    def set_tensor_debug_state(self, name: str, flag: builtins.bool) -> builtins.bool:
        ...

    def update_device_memory_size_for_shapes(self) -> int:
        ...

    @property
    def active_optimization_profile(self) -> int:
        ...

    @property
    def all_binding_shapes_specified(self) -> builtins.bool:
        ...

    @property
    def all_shape_inputs_specified(self) -> builtins.bool:
        ...

    @property
    def engine(self) -> typing.Any:
        ...

class IExprBuilder:

    def __init__(self) -> None:
        ...

    def constant(self, arg0: int) -> IDimensionExpr:
        ...

    def declare_size_tensor(self, arg0: int, arg1: IDimensionExpr, arg2: IDimensionExpr) -> IDimensionExpr:
        ...

    def operation(self, arg0: DimensionOperation, arg1: IDimensionExpr, arg2: IDimensionExpr) -> IDimensionExpr:
        ...

class IFillLayer(ILayer):
    alpha: typing.Any
    beta: typing.Any
    operation: FillOperation
    shape: Dims
    to_type: DataType

    def is_alpha_beta_int64(self) -> builtins.bool:
        ...

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class IGatherLayer(ILayer):
    axis: int
    mode: typing.Any
    num_elementwise_dims: int

class IGpuAllocator(IVersionedInterface):

    def __init__(self) -> None:
        ...

    def allocate(self, size: int, alignment: int, flags: int) -> typing.Any:
        ...

    def allocate_async(self, size: int, alignment: int, flags: int, stream: int) -> typing.Any:
        ...

    def deallocate(self, memory: typing.Any) -> builtins.bool:
        ...

    def deallocate_async(self, memory: typing.Any, stream: int) -> builtins.bool:
        ...

    def reallocate(self, address: typing.Any, alignment: int, new_size: int) -> typing.Any:
        ...

class IGpuAsyncAllocator(IGpuAllocator):

    def __init__(self) -> None:
        ...

    def allocate(self, size: int, alignment: int, flags: int) -> typing.Any:
        ...

    def allocate_async(self: IGpuAllocator, size: int, alignment: int, flags: int, stream: int) -> typing.Any:
        ...

    def deallocate(self, memory: typing.Any) -> builtins.bool:
        ...

    def deallocate_async(self: IGpuAllocator, memory: typing.Any, stream: int) -> builtins.bool:
        ...

class IGridSampleLayer(ILayer):
    align_corners: builtins.bool
    interpolation_mode: InterpolationMode
    sample_mode: SampleMode

class IHostMemory:

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __buffer__(self, flags):
        ...

    def __del__(self) -> None:
        ...

    def __release_buffer__(self, buffer):
        ...

    @property
    def dtype(self) -> DataType:
        ...

    @property
    def nbytes(self) -> int:
        ...

class IIdentityLayer(ILayer):
    ...

class IIfConditional:
    name: str

    def add_input(self, input: ITensor) -> IIfConditionalInputLayer:
        ...

    def add_output(self, true_subgraph_output: ITensor, false_subgraph_output: ITensor) -> IIfConditionalOutputLayer:
        ...

    def set_condition(self, condition: ITensor) -> IConditionLayer:
        ...

class IIfConditionalBoundaryLayer(ILayer):

    @property
    def conditional(self) -> typing.Any:
        ...

class IIfConditionalInputLayer(IIfConditionalBoundaryLayer):
    ...

class IIfConditionalOutputLayer(IIfConditionalBoundaryLayer):
    ...

class IInt8Calibrator:

    def __init__(self) -> None:
        ...

    def get_algorithm(self) -> CalibrationAlgoType:
        ...

    def get_batch(self, names: list[str]) -> list[int]:
        ...

    def get_batch_size(self) -> int:
        ...

    def read_calibration_cache(self) -> typing_extensions.Buffer:
        ...

    def write_calibration_cache(self, cache: typing_extensions.Buffer) -> None:
        ...

class IInt8EntropyCalibrator(IInt8Calibrator):

    def __init__(self) -> None:
        ...

    def get_algorithm(self) -> CalibrationAlgoType:
        ...

    def get_batch(self, names: list[str]) -> list[int]:
        ...

    def get_batch_size(self: IInt8Calibrator) -> int:
        ...

    def read_calibration_cache(self) -> typing_extensions.Buffer:
        ...

    def write_calibration_cache(self, cache: typing_extensions.Buffer) -> None:
        ...

class IInt8EntropyCalibrator2(IInt8Calibrator):

    def __init__(self) -> None:
        ...

    def get_algorithm(self) -> CalibrationAlgoType:
        ...

    def get_batch(self, names: list[str]) -> list[int]:
        ...

    def get_batch_size(self: IInt8Calibrator) -> int:
        ...

    def read_calibration_cache(self) -> typing_extensions.Buffer:
        ...

    def write_calibration_cache(self, cache: typing_extensions.Buffer) -> None:
        ...

class IInt8LegacyCalibrator(IInt8Calibrator):

    def __init__(self) -> None:
        ...

    def get_algorithm(self) -> CalibrationAlgoType:
        ...

    def get_batch(self, names: list[str]) -> list[int]:
        ...

    def get_batch_size(self: IInt8Calibrator) -> int:
        ...

    def read_calibration_cache(self) -> typing_extensions.Buffer:
        ...

    def write_calibration_cache(self, cache: typing_extensions.Buffer) -> None:
        ...

class IInt8MinMaxCalibrator(IInt8Calibrator):

    def __init__(self) -> None:
        ...

    def get_algorithm(self) -> CalibrationAlgoType:
        ...

    def get_batch(self, names: list[str]) -> list[int]:
        ...

    def get_batch_size(self: IInt8Calibrator) -> int:
        ...

    def read_calibration_cache(self) -> typing_extensions.Buffer:
        ...

    def write_calibration_cache(self, cache: typing_extensions.Buffer) -> None:
        ...

class IIteratorLayer(ILoopBoundaryLayer):
    axis: int
    reverse: builtins.bool

class ILRNLayer(ILayer):
    alpha: float
    beta: float
    k: float
    window_size: int

class ILayer:
    metadata: str
    name: str
    precision: DataType

    def get_input(self, index: int) -> ITensor:
        ...

    def get_output(self, index: int) -> ITensor:
        ...

    def get_output_type(self, index: int) -> DataType:
        ...

    def output_type_is_set(self, index: int) -> builtins.bool:
        ...

    def reset_output_type(self, index: int) -> None:
        ...

    def reset_precision(self) -> None:
        ...

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

    def set_output_type(self, index: int, dtype: DataType) -> None:
        ...

    @property
    def num_inputs(self) -> int:
        ...

    @property
    def num_outputs(self) -> int:
        ...

    @property
    def precision_is_set(self) -> builtins.bool:
        ...

    @property
    def type(self) -> LayerType:
        ...

class ILogger:

    class Severity:
        ERROR: typing.ClassVar[ILogger.Severity]
        INFO: typing.ClassVar[ILogger.Severity]
        INTERNAL_ERROR: typing.ClassVar[ILogger.Severity]
        VERBOSE: typing.ClassVar[ILogger.Severity]
        WARNING: typing.ClassVar[ILogger.Severity]
        __members__: typing.ClassVar[dict[str, ILogger.Severity]]

        def __eq__(self, other: typing.Any) -> builtins.bool:
            ...

        def __ge__(self, other: typing.Any) -> builtins.bool:
            ...

        def __getstate__(self) -> int:
            ...

        def __gt__(self, other: typing.Any) -> builtins.bool:
            ...

        def __hash__(self) -> int:
            ...

        def __index__(self) -> int:
            ...

        def __init__(self, value: int) -> None:
            ...

        def __int__(self) -> int:
            ...

        def __le__(self, other: typing.Any) -> builtins.bool:
            ...

        def __lt__(self, other: typing.Any) -> builtins.bool:
            ...

        def __ne__(self, other: typing.Any) -> builtins.bool:
            ...

        def __repr__(self) -> str:
            ...

        def __setstate__(self, state: int) -> None:
            ...

        def __str__(self) -> str:
            ...

        @property
        def name(self) -> str:
            ...

        @property
        def value(self) -> int:
            ...
    ERROR: typing.ClassVar[ILogger.Severity]
    INFO: typing.ClassVar[ILogger.Severity]
    INTERNAL_ERROR: typing.ClassVar[ILogger.Severity]
    VERBOSE: typing.ClassVar[ILogger.Severity]
    WARNING: typing.ClassVar[ILogger.Severity]

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __init__(self) -> None:
        ...

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        ...

class ILoop:
    name: str

    def add_iterator(self, tensor: ITensor, axis: int=0, reverse: builtins.bool=False) -> IIteratorLayer:
        ...

    def add_loop_output(self, tensor: ITensor, kind: LoopOutput, axis: int=0) -> ILoopOutputLayer:
        ...

    def add_recurrence(self, initial_value: ITensor) -> IRecurrenceLayer:
        ...

    def add_trip_limit(self, tensor: ITensor, kind: TripLimit) -> ITripLimitLayer:
        ...

class ILoopBoundaryLayer(ILayer):

    @property
    def loop(self) -> typing.Any:
        ...

class ILoopOutputLayer(ILoopBoundaryLayer):
    axis: int

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

    @property
    def kind(self) -> LoopOutput:
        ...

class IMatrixMultiplyLayer(ILayer):
    op0: MatrixOperation
    op1: MatrixOperation

class INMSLayer(ILayer):
    bounding_box_format: BoundingBoxFormat
    topk_box_limit: int

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class INetworkDefinition:
    error_recorder: typing.Any
    name: str

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def __getitem__(self, arg0: int) -> ILayer:
        ...

    def __len__(self) -> int:
        ...

    def add_activation(self, input: ITensor, type: ActivationType) -> IActivationLayer:
        ...

    def add_assertion(self, condition: ITensor, message: str) -> IAssertionLayer:
        ...

    def add_cast(self, input: ITensor, to_type: DataType) -> ICastLayer:
        ...

    def add_concatenation(self, inputs: list[ITensor]) -> IConcatenationLayer:
        ...

    def add_constant(self, shape: Dims, weights: Weights) -> IConstantLayer:
        ...

    def add_convolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Dims, kernel: Weights, bias: Weights=None) -> IConvolutionLayer:
        ...

    def add_cumulative(self, input: ITensor, axis: ITensor, op: CumulativeOperation, exclusive: builtins.bool, reverse: builtins.bool) -> ICumulativeLayer:
        ...

    def add_deconvolution_nd(self, input: ITensor, num_output_maps: int, kernel_shape: Dims, kernel: Weights, bias: Weights=None) -> IDeconvolutionLayer:
        ...

    @typing.overload
    def add_dequantize(self, input: ITensor, scale: ITensor) -> IDequantizeLayer:
        ...

    @typing.overload
    def add_dequantize(self, input: ITensor, scale: ITensor, output_type: DataType) -> IDequantizeLayer:
        ...

    def add_dynamic_quantize(self, input: ITensor, axis: int, block_size: int, output_type: DataType, scale_type: DataType) -> IDynamicQuantizeLayer:
        ...

    def add_einsum(self, inputs: list[ITensor], equation: str) -> IEinsumLayer:
        ...

    def add_elementwise(self, input1: ITensor, input2: ITensor, op: ElementWiseOperation) -> IElementWiseLayer:
        ...

    @typing.overload
    def add_fill(self, shape: Dims, op: FillOperation) -> IFillLayer:
        ...

    @typing.overload
    def add_fill(self, shape: Dims, op: FillOperation, output_type: DataType) -> IFillLayer:
        ...

    def add_gather(self, input: ITensor, indices: ITensor, axis: int) -> IGatherLayer:
        ...

    def add_gather_v2(self, input: ITensor, indices: ITensor, mode: GatherMode) -> IGatherLayer:
        ...

    def add_grid_sample(self, input: ITensor, grid: ITensor) -> IGridSampleLayer:
        ...

    def add_identity(self, input: ITensor) -> IIdentityLayer:
        ...

    def add_if_conditional(self) -> IIfConditional:
        ...

    def add_input(self, name: str, dtype: DataType, shape: Dims) -> ITensor:
        ...

    def add_loop(self) -> ILoop:
        ...

    def add_lrn(self, input: ITensor, window: int, alpha: float, beta: float, k: float) -> ILRNLayer:
        ...

    def add_matrix_multiply(self, input0: ITensor, op0: MatrixOperation, input1: ITensor, op1: MatrixOperation) -> IMatrixMultiplyLayer:
        ...

    def add_nms(self, boxes: ITensor, scores: ITensor, max_output_boxes_per_class: ITensor) -> INMSLayer:
        ...

    def add_non_zero(self, input: ITensor) -> INonZeroLayer:
        ...

    def add_normalization(self, input: ITensor, scale: ITensor, bias: ITensor, axesMask: int) -> INormalizationLayer:
        ...

    def add_one_hot(self, indices: ITensor, values: ITensor, depth: ITensor, axis: int) -> IOneHotLayer:
        ...

    def add_padding_nd(self, input: ITensor, pre_padding: Dims, post_padding: Dims) -> IPaddingLayer:
        ...

    def add_parametric_relu(self, input: ITensor, slopes: ITensor) -> IParametricReLULayer:
        ...

    @typing.overload
    def add_plugin(self, tuple: tuple) -> IPluginV3Layer:
        ...

    @typing.overload
    def add_plugin(self, func: typing.Callable) -> IPluginV3Layer:
        ...

    def add_plugin_v2(self, inputs: list[ITensor], plugin: IPluginV2) -> IPluginV2Layer:
        ...

    def add_plugin_v3(self, inputs: list[ITensor], shape_inputs: list[ITensor], plugin: IPluginV3) -> IPluginV3Layer:
        ...

    def add_pooling_nd(self, input: ITensor, type: PoolingType, window_size: Dims) -> IPoolingLayer:
        ...

    @typing.overload
    def add_quantize(self, input: ITensor, scale: ITensor) -> IQuantizeLayer:
        ...

    @typing.overload
    def add_quantize(self, input: ITensor, scale: ITensor, output_type: DataType) -> IQuantizeLayer:
        ...

    def add_ragged_softmax(self, input: ITensor, bounds: ITensor) -> IRaggedSoftMaxLayer:
        ...

    def add_reduce(self, input: ITensor, op: ReduceOperation, axes: int, keep_dims: builtins.bool) -> IReduceLayer:
        ...

    def add_resize(self, input: ITensor) -> IResizeLayer:
        ...

    def add_reverse_sequence(self, input: ITensor, sequence_lens: ITensor) -> IReverseSequenceLayer:
        ...

    def add_scale(self, input: ITensor, mode: ScaleMode, shift: Weights=None, scale: Weights=None, power: Weights=None) -> IScaleLayer:
        ...

    def add_scale_nd(self, input: ITensor, mode: ScaleMode, shift: Weights | None, scale: Weights | None, power: Weights | None, channel_axis: int) -> IScaleLayer:
        ...

    def add_scatter(self, data: ITensor, indices: ITensor, updates: ITensor, mode: ScatterMode) -> IScatterLayer:
        ...

    def add_select(self, condition: ITensor, then_input: ITensor, else_input: ITensor) -> ISelectLayer:
        ...

    def add_shape(self, input: ITensor) -> IShapeLayer:
        ...

    def add_shuffle(self, input: ITensor) -> IShuffleLayer:
        ...

    def add_slice(self, input: ITensor, start: Dims, shape: Dims, stride: Dims) -> ISliceLayer:
        ...

    def add_softmax(self, input: ITensor) -> ISoftMaxLayer:
        ...

    def add_squeeze(self, input: ITensor, axes: ITensor) -> ISqueezeLayer:
        ...

    def add_topk(self, input: ITensor, op: TopKOperation, k: int, axes: int) -> ITopKLayer:
        ...

    def add_unary(self, input: ITensor, op: UnaryOperation) -> IUnaryLayer:
        ...

    def add_unsqueeze(self, input: ITensor, axes: ITensor) -> IUnsqueezeLayer:
        ...

    def are_weights_marked_refittable(self, name: str) -> builtins.bool:
        ...

    def get_flag(self, flag: typing.Any) -> builtins.bool:
        ...

    def get_input(self, index: int) -> ITensor:
        ...

    def get_layer(self, index: int) -> ILayer:
        ...

    def get_output(self, index: int) -> ITensor:
        ...

    def is_debug_tensor(self, tensor: ITensor) -> builtins.bool:
        ...

    def mark_debug(self, tensor: ITensor) -> builtins.bool:
        ...

    def mark_output(self, tensor: ITensor) -> None:
        ...

    def mark_output_for_shapes(self, tensor: ITensor) -> builtins.bool:
        ...

    def mark_weights_refittable(self, name: str) -> builtins.bool:
        ...

    def remove_tensor(self, tensor: ITensor) -> None:
        ...

    def set_weights_name(self, weights: Weights, name: str) -> builtins.bool:
        ...

    def unmark_debug(self, tensor: ITensor) -> builtins.bool:
        ...

    def unmark_output(self, tensor: ITensor) -> None:
        ...

    def unmark_output_for_shapes(self, tensor: ITensor) -> builtins.bool:
        ...

    def unmark_weights_refittable(self, name: str) -> builtins.bool:
        ...

    @property
    def builder(self) -> typing.Any:
        ...

    @property
    def flags(self) -> int:
        ...

    @property
    def has_implicit_batch_dimension(self) -> builtins.bool:
        ...

    @property
    def num_inputs(self) -> int:
        ...

    @property
    def num_layers(self) -> int:
        ...

    @property
    def num_outputs(self) -> int:
        ...

class INonZeroLayer(ILayer):
    ...

class INormalizationLayer(ILayer):
    axes: int
    compute_precision: DataType
    epsilon: float
    num_groups: int

class IOneHotLayer(ILayer):
    axis: int

class IOptimizationProfile:
    extra_memory_target: float

    def __bool__(self) -> builtins.bool:
        ...

    def __nonzero__(self) -> builtins.bool:
        ...

    def get_shape(self, input: str) -> list[Dims]:
        ...

    def get_shape_input(self, input: str) -> list[list[int]]:
        ...

    def set_shape(self, input: str, min: Dims, opt: Dims, max: Dims) -> None:
        ...

    def set_shape_input(self, input: str, min: list[int], opt: list[int], max: list[int]) -> None:
        ...

class IOutputAllocator:

    def __init__(self) -> None:
        ...

class IPaddingLayer(ILayer):
    post_padding_nd: Dims
    pre_padding_nd: Dims

class IParametricReLULayer(ILayer):
    ...

class IPluginCapability(IVersionedInterface):
    ...

class IPluginCreator(IPluginCreatorInterface, IVersionedInterface):
    field_names: PluginFieldCollection_
    name: str
    plugin_namespace: str
    plugin_version: str

    def __init__(self) -> None:
        ...

    def create_plugin(self, name: str, field_collection: PluginFieldCollection_) -> IPluginV2:
        ...

    @typing.overload
    def deserialize_plugin(self, name: str, serialized_plugin: typing_extensions.Buffer) -> IPluginV2:
        ...

    @typing.overload
    def deserialize_plugin(self: IPluginV2DynamicExt, name: str, serialized_plugin: bytes) -> IPluginV2DynamicExt:
        ...

class IPluginCreatorInterface(IVersionedInterface):
    ...

class IPluginCreatorV3One(IPluginCreatorInterface, IVersionedInterface):
    field_names: PluginFieldCollection_
    name: str
    plugin_namespace: str
    plugin_version: str

    def __init__(self) -> None:
        ...

    def create_plugin(self, name: str, field_collection: PluginFieldCollection_, phase: typing.Any) -> IPluginV3:
        ...

class IPluginCreatorV3Quick(IPluginCreatorInterface, IVersionedInterface):
    field_names: PluginFieldCollection_
    name: str
    plugin_namespace: str
    plugin_version: str

    def __init__(self) -> None:
        ...

    def create_plugin(self, name: str, namespace: str, field_collection: PluginFieldCollection_, phase: typing.Any) -> IPluginV3:
        ...

class IPluginRegistry:
    error_recorder: typing.Any
    parent_search_enabled: builtins.bool

    def acquire_plugin_resource(self, key: str, resource: IPluginResource) -> IPluginResource:
        ...

    @typing.overload
    def deregister_creator(self, creator: IPluginCreator) -> builtins.bool:
        ...

    @typing.overload
    def deregister_creator(self, creator: IPluginCreatorInterface) -> builtins.bool:
        ...

    def deregister_library(self, handle: typing.Any) -> None:
        ...

    def get_creator(self, type: str, version: str, plugin_namespace: str='') -> typing.Any:
        ...

    def get_plugin_creator(self, type: str, version: str, plugin_namespace: str='') -> IPluginCreator:
        ...

    def load_library(self, plugin_path: str) -> typing.Any:
        ...

    @typing.overload
    def register_creator(self, creator: IPluginCreator, plugin_namespace: str='') -> builtins.bool:
        ...

    @typing.overload
    def register_creator(self, creator: IPluginCreatorInterface, plugin_namespace: str='') -> builtins.bool:
        ...

    def release_plugin_resource(self, key: str) -> int:
        ...

    @property
    def all_creators(self) -> list[typing.Any]:
        ...

    @property
    def plugin_creator_list(self) -> list[IPluginCreator]:
        ...

class IPluginResource(IVersionedInterface):

    def __init__(self) -> None:
        ...

    def clone(self) -> IPluginResource:
        ...

    def release(self) -> None:
        ...

class IPluginResourceContext:

    @property
    def error_recorder(self) -> typing.Any:
        ...

    @property
    def gpu_allocator(self) -> typing.Any:
        ...

class IPluginV2:
    num_outputs: int
    plugin_namespace: str
    plugin_type: str
    plugin_version: str

    def clone(self) -> IPluginV2:
        ...

    def configure_with_format(self, input_shapes: list[Dims], output_shapes: list[Dims], dtype: DataType, format: typing.Any, max_batch_size: int) -> None:
        ...

    def destroy(self) -> None:
        ...

    def execute_async(self, batch_size: int, inputs: list[typing.Any], outputs: list[typing.Any], workspace: typing.Any, stream_handle: int) -> int:
        ...

    def get_output_shape(self, index: int, input_shapes: list[Dims]) -> Dims:
        ...

    def get_workspace_size(self, max_batch_size: int) -> int:
        ...

    def initialize(self) -> int:
        ...

    def serialize(self) -> memoryview:
        ...

    def supports_format(self, dtype: DataType, format: typing.Any) -> builtins.bool:
        ...

    def terminate(self) -> None:
        ...

    @property
    def serialization_size(self) -> int:
        ...

    @property
    def tensorrt_version(self) -> int:
        ...

class IPluginV2DynamicExt(IPluginV2DynamicExtBase, IPluginV2):
    FORMAT_COMBINATION_LIMIT: typing.ClassVar[int] = 100

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV2DynamicExt) -> None:
        ...

    def clone(self) -> IPluginV2DynamicExt:
        ...

    def configure_plugin(self, pos: list[DynamicPluginTensorDesc], in_out: list[DynamicPluginTensorDesc]) -> None:
        ...

    def destroy(self) -> None:
        ...

    def enqueue(self, input_desc: list[PluginTensorDesc], output_desc: list[PluginTensorDesc], inputs: list[int], outputs: list[int], workspace: int, stream: int) -> None:
        ...

    def get_output_datatype(self, index: int, input_types: list[DataType]) -> DataType:
        ...

    def get_output_dimensions(self, output_index: int, inputs: list[DimsExprs], expr_builder: IExprBuilder) -> DimsExprs:
        ...

    def get_serialization_size(self) -> int:
        ...

    def get_workspace_size(self, in_: list[PluginTensorDesc], out: list[PluginTensorDesc]) -> int:
        ...

    def initialize(self) -> int:
        ...

    def serialize(self) -> bytes:
        ...

    def supports_format_combination(self, pos: int, in_out: list[PluginTensorDesc], num_inputs: int) -> builtins.bool:
        ...

    def terminate(self) -> None:
        ...

class IPluginV2DynamicExtBase(IPluginV2):
    pass

class IPluginV2Ext(IPluginV2):

    def attach_to_context(self, cudnn: typing.Any, cublas: typing.Any, allocator: typing.Any) -> None:
        ...

    def clone(self) -> IPluginV2Ext:
        ...

    def configure_plugin(self, input_shapes: list[Dims], output_shapes: list[Dims], input_types: list[DataType], output_types: list[DataType], input_is_broadcasted: list[builtins.bool], output_is_broacasted: list[builtins.bool], format: typing.Any, max_batch_size: int) -> None:
        ...

    def detach_from_context(self) -> None:
        ...

    def get_output_data_type(self, index: int, input_types: list[DataType]) -> DataType:
        ...

class IPluginV2Layer(ILayer):

    @property
    def plugin(self) -> IPluginV2:
        ...

class IPluginV3(IVersionedInterface):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3) -> None:
        ...

    def clone(self) -> IPluginV3:
        ...

    def destroy(self) -> None:
        ...

    def get_capability_interface(self, type: typing.Any) -> typing.Any:
        ...

class IPluginV3Layer(ILayer):

    @property
    def plugin(self) -> IPluginV3:
        ...

class IPluginV3OneBuild(IPluginCapability, IVersionedInterface):
    DEFAULT_FORMAT_COMBINATION_LIMIT: typing.ClassVar[int] = 100
    format_combination_limit: int
    metadata_string: str
    num_outputs: int
    timing_cache_id: str

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3OneBuild) -> None:
        ...

    def configure_plugin(self: IPluginV3, in_: list[DynamicPluginTensorDesc], out: list[DynamicPluginTensorDesc]) -> None:
        ...

    def get_output_data_types(self: IPluginV3, input_types: list[DataType]) -> list[DataType]:
        ...

    def get_output_shapes(self: IPluginV3, inputs: list[DimsExprs], shape_inputs: list[DimsExprs], expr_builder: IExprBuilder) -> list[DimsExprs]:
        ...

    def get_valid_tactics(self: IPluginV3) -> list[int]:
        ...

    def get_workspace_size(self: IPluginV3, in_: list[DynamicPluginTensorDesc], out: list[DynamicPluginTensorDesc]) -> int:
        ...

    def supports_format_combination(self: IPluginV3, pos: int, in_out: list[DynamicPluginTensorDesc], num_inputs: int) -> builtins.bool:
        ...

class IPluginV3OneBuildV2(IPluginV3OneBuild, IPluginCapability, IVersionedInterface):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3OneBuildV2) -> None:
        ...

    def get_aliased_input(self: int) -> int:
        ...

class IPluginV3OneCore(IPluginCapability, IVersionedInterface):
    plugin_name: str
    plugin_namespace: str
    plugin_version: str

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3OneCore) -> None:
        ...

class IPluginV3OneRuntime(IPluginCapability, IVersionedInterface):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3OneRuntime) -> None:
        ...

    def attach_to_context(self: IPluginV3, resource_context: typing.Any) -> IPluginV3:
        ...

    def enqueue(self: IPluginV3, input_desc: list[PluginTensorDesc], output_desc: list[PluginTensorDesc], inputs: list[int], outputs: list[int], workspace: int, stream: int) -> None:
        ...

    def get_fields_to_serialize(self: IPluginV3) -> PluginFieldCollection_:
        ...

    def on_shape_change(self: IPluginV3, in_: list[PluginTensorDesc], out: list[PluginTensorDesc]) -> None:
        ...

    def set_tactic(self: IPluginV3, tactic: int) -> None:
        ...

class IPluginV3QuickBuild(IPluginCapability, IVersionedInterface):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3QuickBuild) -> None:
        ...

class IPluginV3QuickCore(IPluginCapability, IVersionedInterface):
    plugin_name: str
    plugin_namespace: str
    plugin_version: str

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3QuickCore) -> None:
        ...

class IPluginV3QuickRuntime(IPluginCapability, IVersionedInterface):

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: IPluginV3QuickRuntime) -> None:
        ...

class IPoolingLayer(ILayer):
    average_count_excludes_padding: builtins.bool
    blend_factor: float
    padding_mode: PaddingMode
    padding_nd: Dims
    post_padding: Dims
    pre_padding: Dims
    stride_nd: Dims
    type: PoolingType
    window_size_nd: Dims

class IProfiler:

    def __init__(self) -> None:
        ...

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        ...

class IProgressMonitor:

    def __init__(self) -> None:
        ...

    def phase_finish(self, phase_name: str) -> None:
        ...

    def phase_start(self, phase_name: str, parent_phase: str, num_steps: int) -> None:
        ...

    def step_complete(self, phase_name: str, step: int) -> builtins.bool:
        ...

class IQuantizeLayer(ILayer):
    axis: int
    to_type: DataType

class IRaggedSoftMaxLayer(ILayer):
    ...

class IRecurrenceLayer(ILoopBoundaryLayer):

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class IReduceLayer(ILayer):
    axes: int
    keep_dims: builtins.bool
    op: ReduceOperation

class IResizeLayer(ILayer):
    coordinate_transformation: ResizeCoordinateTransformation
    cubic_coeff: float
    exclude_outside: builtins.bool
    nearest_rounding: ResizeRoundMode
    resize_mode: InterpolationMode
    scales: list[float]
    selector_for_single_pixel: ResizeSelector
    shape: Dims

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class IReverseSequenceLayer(ILayer):
    batch_axis: int
    sequence_axis: int

class IScaleLayer(ILayer):
    channel_axis: int
    mode: ScaleMode

    @property
    def power(self) -> typing.Any:
        ...

    @power.setter
    def power(self, arg1: Weights) -> None:
        ...

    @property
    def scale(self) -> typing.Any:
        ...

    @scale.setter
    def scale(self, arg1: Weights) -> None:
        ...

    @property
    def shift(self) -> typing.Any:
        ...

    @shift.setter
    def shift(self, arg1: Weights) -> None:
        ...

class IScatterLayer(ILayer):
    axis: int
    mode: ScatterMode

class ISelectLayer(ILayer):
    ...

class ISerializationConfig:
    flags: int

    def clear_flag(self, flag: SerializationFlag) -> builtins.bool:
        ...

    def get_flag(self, flag: SerializationFlag) -> builtins.bool:
        ...

    def set_flag(self, flag: SerializationFlag) -> builtins.bool:
        ...

class IShapeLayer(ILayer):
    ...

class IShuffleLayer(ILayer):
    first_transpose: Permutation
    reshape_dims: Dims
    second_transpose: Permutation
    zero_is_placeholder: builtins.bool

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class ISliceLayer(ILayer):
    axes: Dims
    mode: typing.Any
    shape: Dims
    start: Dims
    stride: Dims

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class ISoftMaxLayer(ILayer):
    axes: int

class ISqueezeLayer(ILayer):

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class IStreamReader:

    def __init__(self) -> None:
        ...

    def read(self, destination: typing.Any, size: int) -> int:
        ...

class IStreamReaderV2:

    def __init__(self) -> None:
        ...

    def read(self, destination: typing.Any, num_bytes: int, stream: int) -> int:
        ...

    def seek(self, offset: int, where: SeekPosition) -> builtins.bool:
        ...

class ITensor:
    allowed_formats: int
    broadcast_across_batch: builtins.bool
    dtype: DataType
    location: typing.Any
    name: str
    shape: Dims

    def get_dimension_name(self, index: int) -> str:
        ...

    def reset_dynamic_range(self) -> None:
        ...

    def set_dimension_name(self, index: int, name: str) -> None:
        ...

    def set_dynamic_range(self, min: float, max: float) -> builtins.bool:
        ...

    @property
    def dynamic_range(self) -> typing.Any:
        ...

    @dynamic_range.setter
    def dynamic_range(self, arg1: list[float]) -> None:
        ...

    @property
    def is_execution_tensor(self) -> builtins.bool:
        ...

    @property
    def is_network_input(self) -> builtins.bool:
        ...

    @property
    def is_network_output(self) -> builtins.bool:
        ...

    @property
    def is_shape_tensor(self) -> builtins.bool:
        ...

class ITimingCache:

    def combine(self, input_cache: ITimingCache, ignore_mismatch: builtins.bool) -> builtins.bool:
        ...

    def query(self, key: TimingCacheKey) -> TimingCacheValue:
        ...

    def queryKeys(self) -> list[TimingCacheKey]:
        ...

    def reset(self) -> builtins.bool:
        ...

    def serialize(self) -> IHostMemory:
        ...

    def update(self, key: TimingCacheKey, value: TimingCacheValue) -> builtins.bool:
        ...

class ITopKLayer(ILayer):
    axes: int
    k: int
    op: TopKOperation

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class ITripLimitLayer(ILoopBoundaryLayer):

    @property
    def kind(self) -> TripLimit:
        ...

class IUnaryLayer(ILayer):
    op: UnaryOperation

class IUnsqueezeLayer(ILayer):

    def set_input(self, index: int, tensor: ITensor) -> None:
        ...

class IVersionedInterface:

    @property
    def api_language(self) -> APILanguage:
        ...

    @property
    def interface_info(self) -> InterfaceInfo:
        ...

class InterfaceInfo:
    kind: str
    major: int
    minor: int

class InterpolationMode:
    CUBIC: typing.ClassVar[InterpolationMode]
    LINEAR: typing.ClassVar[InterpolationMode]
    NEAREST: typing.ClassVar[InterpolationMode]
    __members__: typing.ClassVar[dict[str, InterpolationMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class LayerInformationFormat:
    JSON: typing.ClassVar[LayerInformationFormat]
    ONELINE: typing.ClassVar[LayerInformationFormat]
    __members__: typing.ClassVar[dict[str, LayerInformationFormat]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class LayerType:
    ACTIVATION: typing.ClassVar[LayerType]
    ASSERTION: typing.ClassVar[LayerType]
    CAST: typing.ClassVar[LayerType]
    CONCATENATION: typing.ClassVar[LayerType]
    CONDITION: typing.ClassVar[LayerType]
    CONDITIONAL_INPUT: typing.ClassVar[LayerType]
    CONDITIONAL_OUTPUT: typing.ClassVar[LayerType]
    CONSTANT: typing.ClassVar[LayerType]
    CONVOLUTION: typing.ClassVar[LayerType]
    CUMULATIVE: typing.ClassVar[LayerType]
    DECONVOLUTION: typing.ClassVar[LayerType]
    DEQUANTIZE: typing.ClassVar[LayerType]
    DYNAMIC_QUANTIZE: typing.ClassVar[LayerType]
    EINSUM: typing.ClassVar[LayerType]
    ELEMENTWISE: typing.ClassVar[LayerType]
    FILL: typing.ClassVar[LayerType]
    GATHER: typing.ClassVar[LayerType]
    GRID_SAMPLE: typing.ClassVar[LayerType]
    IDENTITY: typing.ClassVar[LayerType]
    ITERATOR: typing.ClassVar[LayerType]
    LOOP_OUTPUT: typing.ClassVar[LayerType]
    LRN: typing.ClassVar[LayerType]
    MATRIX_MULTIPLY: typing.ClassVar[LayerType]
    NMS: typing.ClassVar[LayerType]
    NON_ZERO: typing.ClassVar[LayerType]
    NORMALIZATION: typing.ClassVar[LayerType]
    ONE_HOT: typing.ClassVar[LayerType]
    PADDING: typing.ClassVar[LayerType]
    PARAMETRIC_RELU: typing.ClassVar[LayerType]
    PLUGIN: typing.ClassVar[LayerType]
    PLUGIN_V2: typing.ClassVar[LayerType]
    PLUGIN_V3: typing.ClassVar[LayerType]
    POOLING: typing.ClassVar[LayerType]
    QUANTIZE: typing.ClassVar[LayerType]
    RAGGED_SOFTMAX: typing.ClassVar[LayerType]
    RECURRENCE: typing.ClassVar[LayerType]
    REDUCE: typing.ClassVar[LayerType]
    RESIZE: typing.ClassVar[LayerType]
    REVERSE_SEQUENCE: typing.ClassVar[LayerType]
    SCALE: typing.ClassVar[LayerType]
    SCATTER: typing.ClassVar[LayerType]
    SELECT: typing.ClassVar[LayerType]
    SHAPE: typing.ClassVar[LayerType]
    SHUFFLE: typing.ClassVar[LayerType]
    SLICE: typing.ClassVar[LayerType]
    SOFTMAX: typing.ClassVar[LayerType]
    SQUEEZE: typing.ClassVar[LayerType]
    TOPK: typing.ClassVar[LayerType]
    TRIP_LIMIT: typing.ClassVar[LayerType]
    UNARY: typing.ClassVar[LayerType]
    UNSQUEEZE: typing.ClassVar[LayerType]
    __members__: typing.ClassVar[dict[str, LayerType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Logger(ILogger):

    class Severity:
        ERROR: typing.ClassVar[ILogger.Severity]
        INFO: typing.ClassVar[ILogger.Severity]
        INTERNAL_ERROR: typing.ClassVar[ILogger.Severity]
        VERBOSE: typing.ClassVar[ILogger.Severity]
        WARNING: typing.ClassVar[ILogger.Severity]
        __members__: typing.ClassVar[dict[str, ILogger.Severity]]

        def __eq__(self, other: typing.Any) -> builtins.bool:
            ...

        def __ge__(self, other: typing.Any) -> builtins.bool:
            ...

        def __getstate__(self) -> int:
            ...

        def __gt__(self, other: typing.Any) -> builtins.bool:
            ...

        def __hash__(self) -> int:
            ...

        def __index__(self: ILogger.Severity) -> int:
            ...

        def __init__(self: ILogger.Severity, value: int) -> None:
            ...

        def __int__(self: ILogger.Severity) -> int:
            ...

        def __le__(self, other: typing.Any) -> builtins.bool:
            ...

        def __lt__(self, other: typing.Any) -> builtins.bool:
            ...

        def __ne__(self, other: typing.Any) -> builtins.bool:
            ...

        def __repr__(self) -> str:
            ...

        def __setstate__(self: ILogger.Severity, state: int) -> None:
            ...

        def __str__(self) -> str:
            ...

        @property
        def name(self) -> str:
            ...

        @property
        def value(self) -> int:
            ...
    ERROR: typing.ClassVar[ILogger.Severity]
    INFO: typing.ClassVar[ILogger.Severity]
    INTERNAL_ERROR: typing.ClassVar[ILogger.Severity]
    VERBOSE: typing.ClassVar[ILogger.Severity]
    WARNING: typing.ClassVar[ILogger.Severity]
    min_severity: ILogger.Severity

    def __init__(self, min_severity: ILogger.Severity=...) -> None:
        ...

    def log(self, severity: ILogger.Severity, msg: str) -> None:
        ...

class LoopOutput:
    CONCATENATE: typing.ClassVar[LoopOutput]
    LAST_VALUE: typing.ClassVar[LoopOutput]
    REVERSE: typing.ClassVar[LoopOutput]
    __members__: typing.ClassVar[dict[str, LoopOutput]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class MatrixOperation:
    NONE: typing.ClassVar[MatrixOperation]
    TRANSPOSE: typing.ClassVar[MatrixOperation]
    VECTOR: typing.ClassVar[MatrixOperation]
    __members__: typing.ClassVar[dict[str, MatrixOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class MemoryPoolType:
    DLA_GLOBAL_DRAM: typing.ClassVar[MemoryPoolType]
    DLA_LOCAL_DRAM: typing.ClassVar[MemoryPoolType]
    DLA_MANAGED_SRAM: typing.ClassVar[MemoryPoolType]
    TACTIC_DRAM: typing.ClassVar[MemoryPoolType]
    TACTIC_SHARED_MEMORY: typing.ClassVar[MemoryPoolType]
    WORKSPACE: typing.ClassVar[MemoryPoolType]
    __members__: typing.ClassVar[dict[str, MemoryPoolType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class NetworkDefinitionCreationFlag:
    EXPLICIT_BATCH: typing.ClassVar[NetworkDefinitionCreationFlag]
    STRONGLY_TYPED: typing.ClassVar[NetworkDefinitionCreationFlag]
    __members__: typing.ClassVar[dict[str, NetworkDefinitionCreationFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class NodeIndices:
    __hash__: typing.ClassVar[None] = None

    def __bool__(self: list[int]) -> builtins.bool:
        ...

    def __contains__(self: list[int], x: int) -> builtins.bool:
        ...

    @typing.overload
    def __delitem__(self: list[int], arg0: int) -> None:
        ...

    @typing.overload
    def __delitem__(self: list[int], arg0: slice) -> None:
        ...

    def __eq__(self: list[int], arg0: list[int]) -> builtins.bool:
        ...

    @typing.overload
    def __getitem__(self: list[int], s: slice) -> list[int]:
        ...

    @typing.overload
    def __getitem__(self: list[int], arg0: int) -> int:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: list[int]) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: typing.Iterable) -> None:
        ...

    def __iter__(self: list[int]) -> typing.Iterator:
        ...

    def __len__(self: list[int]) -> int:
        ...

    def __ne__(self: list[int], arg0: list[int]) -> builtins.bool:
        ...

    def __repr__(self: list[int]) -> str:
        ...

    @typing.overload
    def __setitem__(self: list[int], arg0: int, arg1: int) -> None:
        ...

    @typing.overload
    def __setitem__(self: list[int], arg0: slice, arg1: list[int]) -> None:
        ...

    def append(self: list[int], x: int) -> None:
        ...

    def clear(self: list[int]) -> None:
        ...

    def count(self: list[int], x: int) -> int:
        ...

    @typing.overload
    def extend(self: list[int], L: list[int]) -> None:
        ...

    @typing.overload
    def extend(self: list[int], L: typing.Iterable) -> None:
        ...

    def insert(self: list[int], i: int, x: int) -> None:
        ...

    @typing.overload
    def pop(self: list[int]) -> int:
        ...

    @typing.overload
    def pop(self: list[int], i: int) -> int:
        ...

    def remove(self: list[int], x: int) -> None:
        ...

class OnnxParser:
    flags: int

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def __init__(self, network: INetworkDefinition, logger: ILogger) -> None:
        ...

    def clear_errors(self) -> None:
        ...

    def clear_flag(self, flag: typing.Any) -> None:
        ...

    def get_error(self, index: int) -> typing.Any:
        ...

    def get_flag(self, flag: typing.Any) -> builtins.bool:
        ...

    def get_layer_output_tensor(self, name: str, i: int) -> ITensor:
        ...

    def get_subgraph_nodes(self, index: int) -> list:
        ...

    def get_used_vc_plugin_libraries(self) -> list[str]:
        ...

    def is_subgraph_supported(self, index: int) -> builtins.bool:
        ...

    def parse(self, model: typing_extensions.Buffer, path: str=None) -> builtins.bool:
        ...

    def parse_from_file(self, model: str) -> builtins.bool:
        ...

    def parse_with_weight_descriptors(self, model: typing_extensions.Buffer) -> builtins.bool:
        ...

    def set_flag(self, flag: typing.Any) -> None:
        ...

    def supports_model(self, model: typing_extensions.Buffer, path: str=None) -> tuple[builtins.bool, list[tuple[list[int], builtins.bool]]]:
        ...

    def supports_model_v2(self, model: typing_extensions.Buffer, path: str=None) -> builtins.bool:
        ...

    def supports_operator(self, op_name: str) -> builtins.bool:
        ...

    @property
    def num_errors(self) -> int:
        ...

    @property
    def num_subgraphs(self) -> int:
        ...

class OnnxParserFlag:
    NATIVE_INSTANCENORM: typing.ClassVar[OnnxParserFlag]
    __members__: typing.ClassVar[dict[str, OnnxParserFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class OnnxParserRefitter:

    def __init__(self, refitter: Refitter, logger: ILogger) -> None:
        ...

    def clear_errors(self) -> None:
        ...

    def get_error(self, index: int) -> ParserError:
        ...

    def refit_from_bytes(self, model: typing_extensions.Buffer, path: str=None) -> builtins.bool:
        ...

    def refit_from_file(self, model: str) -> builtins.bool:
        ...

    @property
    def num_errors(self) -> int:
        ...

class PaddingMode:
    EXPLICIT_ROUND_DOWN: typing.ClassVar[PaddingMode]
    EXPLICIT_ROUND_UP: typing.ClassVar[PaddingMode]
    SAME_LOWER: typing.ClassVar[PaddingMode]
    SAME_UPPER: typing.ClassVar[PaddingMode]
    __members__: typing.ClassVar[dict[str, PaddingMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ParserError:

    def __repr__(self) -> str:
        ...

    def __str__(self) -> str:
        ...

    def code(self) -> ErrorCode:
        ...

    def desc(self) -> str:
        ...

    def file(self) -> str:
        ...

    def func(self) -> str:
        ...

    def line(self) -> int:
        ...

    def local_function_stack(self) -> list[str]:
        ...

    def local_function_stack_size(self) -> int:
        ...

    def node(self) -> int:
        ...

    def node_name(self) -> str:
        ...

    def node_operator(self) -> str:
        ...

class Permutation:

    def __getitem__(self, arg0: int) -> int:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: list[int]) -> None:
        ...

    def __len__(self) -> int:
        ...

    def __repr__(self) -> str:
        ...

    def __setitem__(self, arg0: int, arg1: int) -> None:
        ...

    def __str__(self) -> str:
        ...

class PluginCapabilityType:
    BUILD: typing.ClassVar[PluginCapabilityType]
    CORE: typing.ClassVar[PluginCapabilityType]
    RUNTIME: typing.ClassVar[PluginCapabilityType]
    __members__: typing.ClassVar[dict[str, PluginCapabilityType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class PluginCreatorVersion:
    V1: typing.ClassVar[PluginCreatorVersion]
    V1_PYTHON: typing.ClassVar[PluginCreatorVersion]
    __members__: typing.ClassVar[dict[str, PluginCreatorVersion]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class PluginField:
    size: int
    type: PluginFieldType

    @typing.overload
    def __init__(self, name: FallbackString='') -> None:
        ...

    @typing.overload
    def __init__(self, name: FallbackString, data: typing_extensions.Buffer, type: PluginFieldType=...) -> None:
        ...

    @property
    def data(self) -> numpy.ndarray:
        ...

    @data.setter
    def data(self, arg1: typing_extensions.Buffer) -> None:
        ...

    @property
    def name(self) -> str:
        ...

    @name.setter
    def name(self, arg1: FallbackString) -> None:
        ...

class PluginFieldCollection:

    def __bool__(self) -> builtins.bool:
        ...

    @typing.overload
    def __delitem__(self, arg0: int) -> None:
        ...

    @typing.overload
    def __delitem__(self, arg0: slice) -> None:
        ...

    @typing.overload
    def __getitem__(self, s: slice) -> PluginFieldCollection:
        ...

    @typing.overload
    def __getitem__(self, arg0: int) -> typing.Any:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: PluginFieldCollection) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: typing.Iterable) -> None:
        ...

    def __iter__(self) -> typing.Iterator:
        ...

    def __len__(self) -> int:
        ...

    @typing.overload
    def __setitem__(self, arg0: int, arg1: typing.Any) -> None:
        ...

    @typing.overload
    def __setitem__(self, arg0: slice, arg1: PluginFieldCollection) -> None:
        ...

    def append(self, x: typing.Any) -> None:
        ...

    def clear(self) -> None:
        ...

    @typing.overload
    def extend(self, L: PluginFieldCollection) -> None:
        ...

    @typing.overload
    def extend(self, L: typing.Iterable) -> None:
        ...

    def insert(self, i: int, x: typing.Any) -> None:
        ...

    @typing.overload
    def pop(self) -> typing.Any:
        ...

    @typing.overload
    def pop(self, i: int) -> typing.Any:
        ...

class PluginFieldCollection_:

    def __getitem__(self, arg0: int) -> PluginField:
        ...

    def __init__(self, arg0: PluginFieldCollection) -> None:
        ...

    def __len__(self) -> int:
        ...

class PluginFieldType:
    BF16: typing.ClassVar[PluginFieldType]
    CHAR: typing.ClassVar[PluginFieldType]
    DIMS: typing.ClassVar[PluginFieldType]
    FLOAT16: typing.ClassVar[PluginFieldType]
    FLOAT32: typing.ClassVar[PluginFieldType]
    FLOAT64: typing.ClassVar[PluginFieldType]
    FP4: typing.ClassVar[PluginFieldType]
    FP8: typing.ClassVar[PluginFieldType]
    INT16: typing.ClassVar[PluginFieldType]
    INT32: typing.ClassVar[PluginFieldType]
    INT4: typing.ClassVar[PluginFieldType]
    INT64: typing.ClassVar[PluginFieldType]
    INT8: typing.ClassVar[PluginFieldType]
    UNKNOWN: typing.ClassVar[PluginFieldType]
    __members__: typing.ClassVar[dict[str, PluginFieldType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class PluginTensorDesc:
    dims: Dims
    format: typing.Any
    scale: float
    type: DataType

    def __init__(self) -> None:
        ...

class PoolingType:
    AVERAGE: typing.ClassVar[PoolingType]
    MAX: typing.ClassVar[PoolingType]
    MAX_AVERAGE_BLEND: typing.ClassVar[PoolingType]
    __members__: typing.ClassVar[dict[str, PoolingType]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class PreviewFeature:
    ALIASED_PLUGIN_IO_10_03: typing.ClassVar[PreviewFeature]
    PROFILE_SHARING_0806: typing.ClassVar[PreviewFeature]
    __members__: typing.ClassVar[dict[str, PreviewFeature]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Profiler(IProfiler):

    def __init__(self) -> None:
        ...

    def report_layer_time(self, layer_name: str, ms: float) -> None:
        ...

class ProfilingVerbosity:
    DETAILED: typing.ClassVar[ProfilingVerbosity]
    LAYER_NAMES_ONLY: typing.ClassVar[ProfilingVerbosity]
    NONE: typing.ClassVar[ProfilingVerbosity]
    __members__: typing.ClassVar[dict[str, ProfilingVerbosity]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class QuantizationFlag:
    CALIBRATE_BEFORE_FUSION: typing.ClassVar[QuantizationFlag]
    __members__: typing.ClassVar[dict[str, QuantizationFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ReduceOperation:
    AVG: typing.ClassVar[ReduceOperation]
    MAX: typing.ClassVar[ReduceOperation]
    MIN: typing.ClassVar[ReduceOperation]
    PROD: typing.ClassVar[ReduceOperation]
    SUM: typing.ClassVar[ReduceOperation]
    __members__: typing.ClassVar[dict[str, ReduceOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Refitter:
    error_recorder: IErrorRecorder
    max_threads: int
    weights_validation: builtins.bool

    def __del__(self) -> None:
        ...

    def __init__(self, engine: ICudaEngine, logger: ILogger) -> None:
        ...

    def get_all(self) -> tuple[list[str], list[WeightsRole]]:
        ...

    def get_all_weights(self) -> list[str]:
        ...

    def get_dynamic_range(self, tensor_name: str) -> tuple:
        ...

    def get_missing(self) -> tuple[list[str], list[WeightsRole]]:
        ...

    def get_missing_weights(self) -> list[str]:
        ...

    def get_named_weights(self, weights_name: str) -> Weights:
        ...

    def get_tensors_with_dynamic_range(self) -> list[str]:
        ...

    def get_weights_location(self, weights_name: str) -> TensorLocation:
        ...

    def get_weights_prototype(self, weights_name: str) -> Weights:
        ...

    def refit_cuda_engine(self) -> builtins.bool:
        ...

    def refit_cuda_engine_async(self, stream_handle: int) -> builtins.bool:
        ...

    def set_dynamic_range(self, tensor_name: str, range: list[float]) -> builtins.bool:
        ...

    @typing.overload
    def set_named_weights(self, name: str, weights: Weights) -> builtins.bool:
        ...

    @typing.overload
    def set_named_weights(self, name: str, weights: Weights, location: TensorLocation) -> builtins.bool:
        ...

    def set_weights(self, layer_name: str, role: WeightsRole, weights: Weights) -> builtins.bool:
        ...

    def unset_named_weights(self, weights_name: str) -> builtins.bool:
        ...

    @property
    def logger(self) -> ILogger:
        ...

class ResizeCoordinateTransformation:
    ALIGN_CORNERS: typing.ClassVar[ResizeCoordinateTransformation]
    ASYMMETRIC: typing.ClassVar[ResizeCoordinateTransformation]
    HALF_PIXEL: typing.ClassVar[ResizeCoordinateTransformation]
    __members__: typing.ClassVar[dict[str, ResizeCoordinateTransformation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ResizeRoundMode:
    CEIL: typing.ClassVar[ResizeRoundMode]
    FLOOR: typing.ClassVar[ResizeRoundMode]
    HALF_DOWN: typing.ClassVar[ResizeRoundMode]
    HALF_UP: typing.ClassVar[ResizeRoundMode]
    __members__: typing.ClassVar[dict[str, ResizeRoundMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ResizeSelector:
    FORMULA: typing.ClassVar[ResizeSelector]
    UPPER: typing.ClassVar[ResizeSelector]
    __members__: typing.ClassVar[dict[str, ResizeSelector]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Runtime:
    DLA_core: int
    engine_host_code_allowed: builtins.bool
    error_recorder: IErrorRecorder
    max_threads: int
    tempfile_control_flags: int
    temporary_directory: str

    @staticmethod
    def __enter__(this):
        ...

    @staticmethod
    def __exit__(this, exc_type, exc_value, traceback):
        ...

    def __del__(self) -> None:
        ...

    def __init__(self, logger: ILogger) -> None:
        ...

    @typing.overload
    def deserialize_cuda_engine(self, serialized_engine: typing_extensions.Buffer) -> ICudaEngine:
        ...

    @typing.overload
    def deserialize_cuda_engine(self, stream_reader: IStreamReader) -> ICudaEngine:
        ...

    @typing.overload
    def deserialize_cuda_engine(self, stream_reader_v2: IStreamReaderV2) -> ICudaEngine:
        ...

    def get_plugin_registry(self) -> IPluginRegistry:
        ...

    def load_runtime(self, path: str) -> Runtime:
        ...

    @property
    def logger(self) -> ILogger:
        ...

    @property
    def num_DLA_cores(self) -> int:
        ...

class RuntimePlatform:
    SAME_AS_BUILD: typing.ClassVar[RuntimePlatform]
    WINDOWS_AMD64: typing.ClassVar[RuntimePlatform]
    __members__: typing.ClassVar[dict[str, RuntimePlatform]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class SampleMode:
    CLAMP: typing.ClassVar[SampleMode]
    FILL: typing.ClassVar[SampleMode]
    REFLECT: typing.ClassVar[SampleMode]
    STRICT_BOUNDS: typing.ClassVar[SampleMode]
    WRAP: typing.ClassVar[SampleMode]
    __members__: typing.ClassVar[dict[str, SampleMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ScaleMode:
    CHANNEL: typing.ClassVar[ScaleMode]
    ELEMENTWISE: typing.ClassVar[ScaleMode]
    UNIFORM: typing.ClassVar[ScaleMode]
    __members__: typing.ClassVar[dict[str, ScaleMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class ScatterMode:
    ELEMENT: typing.ClassVar[ScatterMode]
    ND: typing.ClassVar[ScatterMode]
    __members__: typing.ClassVar[dict[str, ScatterMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class SeekPosition:
    CUR: typing.ClassVar[SeekPosition]
    END: typing.ClassVar[SeekPosition]
    SET: typing.ClassVar[SeekPosition]
    __members__: typing.ClassVar[dict[str, SeekPosition]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class SerializationFlag:
    EXCLUDE_LEAN_RUNTIME: typing.ClassVar[SerializationFlag]
    EXCLUDE_WEIGHTS: typing.ClassVar[SerializationFlag]
    __members__: typing.ClassVar[dict[str, SerializationFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class SubGraphCollection:
    __hash__: typing.ClassVar[None] = None

    def __bool__(self: list[tuple[list[int], builtins.bool]]) -> builtins.bool:
        ...

    def __contains__(self: list[tuple[list[int], builtins.bool]], x: tuple[list[int], builtins.bool]) -> builtins.bool:
        ...

    @typing.overload
    def __delitem__(self: list[tuple[list[int], builtins.bool]], arg0: int) -> None:
        ...

    @typing.overload
    def __delitem__(self: list[tuple[list[int], builtins.bool]], arg0: slice) -> None:
        ...

    def __eq__(self: list[tuple[list[int], builtins.bool]], arg0: list[tuple[list[int], builtins.bool]]) -> builtins.bool:
        ...

    @typing.overload
    def __getitem__(self: list[tuple[list[int], builtins.bool]], s: slice) -> list[tuple[list[int], builtins.bool]]:
        ...

    @typing.overload
    def __getitem__(self: list[tuple[list[int], builtins.bool]], arg0: int) -> tuple[list[int], builtins.bool]:
        ...

    @typing.overload
    def __init__(self) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: list[tuple[list[int], builtins.bool]]) -> None:
        ...

    @typing.overload
    def __init__(self, arg0: typing.Iterable) -> None:
        ...

    def __iter__(self: list[tuple[list[int], builtins.bool]]) -> typing.Iterator:
        ...

    def __len__(self: list[tuple[list[int], builtins.bool]]) -> int:
        ...

    def __ne__(self: list[tuple[list[int], builtins.bool]], arg0: list[tuple[list[int], builtins.bool]]) -> builtins.bool:
        ...

    @typing.overload
    def __setitem__(self: list[tuple[list[int], builtins.bool]], arg0: int, arg1: tuple[list[int], builtins.bool]) -> None:
        ...

    @typing.overload
    def __setitem__(self: list[tuple[list[int], builtins.bool]], arg0: slice, arg1: list[tuple[list[int], builtins.bool]]) -> None:
        ...

    def append(self: list[tuple[list[int], builtins.bool]], x: tuple[list[int], builtins.bool]) -> None:
        ...

    def clear(self: list[tuple[list[int], builtins.bool]]) -> None:
        ...

    def count(self: list[tuple[list[int], builtins.bool]], x: tuple[list[int], builtins.bool]) -> int:
        ...

    @typing.overload
    def extend(self: list[tuple[list[int], builtins.bool]], L: list[tuple[list[int], builtins.bool]]) -> None:
        ...

    @typing.overload
    def extend(self: list[tuple[list[int], builtins.bool]], L: typing.Iterable) -> None:
        ...

    def insert(self: list[tuple[list[int], builtins.bool]], i: int, x: tuple[list[int], builtins.bool]) -> None:
        ...

    @typing.overload
    def pop(self: list[tuple[list[int], builtins.bool]]) -> tuple[list[int], builtins.bool]:
        ...

    @typing.overload
    def pop(self: list[tuple[list[int], builtins.bool]], i: int) -> tuple[list[int], builtins.bool]:
        ...

    def remove(self: list[tuple[list[int], builtins.bool]], x: tuple[list[int], builtins.bool]) -> None:
        ...

class TacticSource:
    CUBLAS: typing.ClassVar[TacticSource]
    CUBLAS_LT: typing.ClassVar[TacticSource]
    CUDNN: typing.ClassVar[TacticSource]
    EDGE_MASK_CONVOLUTIONS: typing.ClassVar[TacticSource]
    JIT_CONVOLUTIONS: typing.ClassVar[TacticSource]
    __members__: typing.ClassVar[dict[str, TacticSource]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TempfileControlFlag:
    ALLOW_IN_MEMORY_FILES: typing.ClassVar[TempfileControlFlag]
    ALLOW_TEMPORARY_FILES: typing.ClassVar[TempfileControlFlag]
    __members__: typing.ClassVar[dict[str, TempfileControlFlag]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TensorFormat:
    CDHW32: typing.ClassVar[TensorFormat]
    CHW16: typing.ClassVar[TensorFormat]
    CHW2: typing.ClassVar[TensorFormat]
    CHW32: typing.ClassVar[TensorFormat]
    CHW4: typing.ClassVar[TensorFormat]
    DHWC: typing.ClassVar[TensorFormat]
    DHWC8: typing.ClassVar[TensorFormat]
    DLA_HWC4: typing.ClassVar[TensorFormat]
    DLA_LINEAR: typing.ClassVar[TensorFormat]
    HWC: typing.ClassVar[TensorFormat]
    HWC16: typing.ClassVar[TensorFormat]
    HWC8: typing.ClassVar[TensorFormat]
    LINEAR: typing.ClassVar[TensorFormat]
    __members__: typing.ClassVar[dict[str, TensorFormat]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TensorIOMode:
    INPUT: typing.ClassVar[TensorIOMode]
    NONE: typing.ClassVar[TensorIOMode]
    OUTPUT: typing.ClassVar[TensorIOMode]
    __members__: typing.ClassVar[dict[str, TensorIOMode]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TensorLocation:
    DEVICE: typing.ClassVar[TensorLocation]
    HOST: typing.ClassVar[TensorLocation]
    __members__: typing.ClassVar[dict[str, TensorLocation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TensorRTPhase:
    BUILD: typing.ClassVar[TensorRTPhase]
    RUNTIME: typing.ClassVar[TensorRTPhase]
    __members__: typing.ClassVar[dict[str, TensorRTPhase]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ge__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __gt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __le__(self, other: typing.Any) -> builtins.bool:
        ...

    def __lt__(self, other: typing.Any) -> builtins.bool:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TilingOptimizationLevel:
    FAST: typing.ClassVar[TilingOptimizationLevel]
    FULL: typing.ClassVar[TilingOptimizationLevel]
    MODERATE: typing.ClassVar[TilingOptimizationLevel]
    NONE: typing.ClassVar[TilingOptimizationLevel]
    __members__: typing.ClassVar[dict[str, TilingOptimizationLevel]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TimingCacheKey:

    @staticmethod
    def parse(text: str) -> TimingCacheKey:
        ...

    def __str__(self) -> str:
        ...

class TimingCacheValue:
    tacticHash: int
    timingMSec: float

    def __init__(self, arg0: int, arg1: float) -> None:
        ...

class TopKOperation:
    MAX: typing.ClassVar[TopKOperation]
    MIN: typing.ClassVar[TopKOperation]
    __members__: typing.ClassVar[dict[str, TopKOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class TripLimit:
    COUNT: typing.ClassVar[TripLimit]
    WHILE: typing.ClassVar[TripLimit]
    __members__: typing.ClassVar[dict[str, TripLimit]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class UnaryOperation:
    ABS: typing.ClassVar[UnaryOperation]
    ACOS: typing.ClassVar[UnaryOperation]
    ACOSH: typing.ClassVar[UnaryOperation]
    ASIN: typing.ClassVar[UnaryOperation]
    ASINH: typing.ClassVar[UnaryOperation]
    ATAN: typing.ClassVar[UnaryOperation]
    ATANH: typing.ClassVar[UnaryOperation]
    CEIL: typing.ClassVar[UnaryOperation]
    COS: typing.ClassVar[UnaryOperation]
    COSH: typing.ClassVar[UnaryOperation]
    ERF: typing.ClassVar[UnaryOperation]
    EXP: typing.ClassVar[UnaryOperation]
    FLOOR: typing.ClassVar[UnaryOperation]
    ISINF: typing.ClassVar[UnaryOperation]
    ISNAN: typing.ClassVar[UnaryOperation]
    LOG: typing.ClassVar[UnaryOperation]
    NEG: typing.ClassVar[UnaryOperation]
    NOT: typing.ClassVar[UnaryOperation]
    RECIP: typing.ClassVar[UnaryOperation]
    ROUND: typing.ClassVar[UnaryOperation]
    SIGN: typing.ClassVar[UnaryOperation]
    SIN: typing.ClassVar[UnaryOperation]
    SINH: typing.ClassVar[UnaryOperation]
    SQRT: typing.ClassVar[UnaryOperation]
    TAN: typing.ClassVar[UnaryOperation]
    __members__: typing.ClassVar[dict[str, UnaryOperation]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

class Weights:

    @typing.overload
    def __init__(self, type: DataType=...) -> None:
        ...

    @typing.overload
    def __init__(self, type: DataType, ptr: int, count: int) -> None:
        ...

    @typing.overload
    def __init__(self, a: numpy.ndarray) -> None:
        ...

    def __len__(self) -> int:
        ...

    def numpy(self) -> typing.Any:
        ...

    @property
    def dtype(self) -> DataType:
        ...

    @property
    def nbytes(self) -> int:
        ...

    @property
    def size(self) -> int:
        ...

class WeightsRole:
    ANY: typing.ClassVar[WeightsRole]
    BIAS: typing.ClassVar[WeightsRole]
    CONSTANT: typing.ClassVar[WeightsRole]
    KERNEL: typing.ClassVar[WeightsRole]
    SCALE: typing.ClassVar[WeightsRole]
    SHIFT: typing.ClassVar[WeightsRole]
    __members__: typing.ClassVar[dict[str, WeightsRole]]

    def __eq__(self, other: typing.Any) -> builtins.bool:
        ...

    def __getstate__(self) -> int:
        ...

    def __hash__(self) -> int:
        ...

    def __index__(self) -> int:
        ...

    def __init__(self, value: int) -> None:
        ...

    def __int__(self) -> int:
        ...

    def __ne__(self, other: typing.Any) -> builtins.bool:
        ...

    def __repr__(self) -> str:
        ...

    def __setstate__(self, state: int) -> None:
        ...

    def __str__(self) -> str:
        ...

    @property
    def name(self) -> str:
        ...

    @property
    def value(self) -> int:
        ...

def get_builder_plugin_registry(arg0: typing.Any) -> IPluginRegistry:
    ...

def get_nv_onnx_parser_version() -> int:
    ...

def get_plugin_registry() -> typing.Any:
    ...

def init_libnvinfer_plugins(logger: typing.Any, namespace: str) -> builtins.bool:
    ...
_plugin_registry = None
bfloat16: DataType
bool: DataType
float16: DataType
float32: DataType
fp4: DataType
fp8: DataType
int32: DataType
int4: DataType
int64: DataType
int8: DataType
uint8: DataType
__version__: str
