"""The closed vocabularies every layer and the CLI share: graph precisions, execution providers, bundle modes,
backends. Standard library only, so the CLI derives its choices from here without importing what they select."""

from __future__ import annotations

PRECISIONS = ("fp32", "fp16", "int8", "int4")  # weights of an ONNX Runtime graph (exporter.optimize.precision)
# int4 graphs' lm_head and MLP down projections: 8 bits (mixed, the default), 4 like the rest (pure), or 8 bits in
# dynamically quantized matmuls (mixed-dynamic); the recipes themselves are in exporter.optimize.precision
INT4_RECIPES = ("mixed", "pure", "mixed-dynamic")
# int8 graphs' kernels: weight-only 8-bit blocks (MatMulNBits, the default) or ONNX Runtime's dynamic quantization
# (DynamicQuantizeMatMul: int8 activations per call, a GEMM that scales with rows); see exporter.optimize.precision
INT8_RECIPES = ("blocks", "dynamic")
RECIPES = {"int4": INT4_RECIPES, "int8": INT8_RECIPES}  # the precisions that have recipes; the first is the default
PROVIDERS = ("cpu", "cuda", "tensorrt")  # ONNX Runtime execution providers (runtime.providers)
MODES = ("switchable", "baked")  # how a bundle carries its prefixes (DESIGN.md)
BACKENDS = ("ort", "trt")  # ONNX Runtime, or a TensorRT engine without it (runtime.backends)
