"""Weight precision of the ONNX Runtime graph: fp32 as exported, fp16, or block-wise int8/int4 weights.

int8/int4 are weight-only (MatMulNBits, asymmetric, per block of the input dimension; activations stay float and
accuracy_level 4 lets ONNX Runtime compute with int8 activations). Prefixes are not part of the graph: they stay
float32 in their own files.
"""

from __future__ import annotations

import logging

import onnx

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8", "int4")
_BLOCK = {"int4": 32, "int8": 128}  # int4 needs small blocks for accuracy; int8 keeps its scales to ~3% extra


def convert_precision(model: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    if precision == "fp32":
        return model
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # Keep float32 I/O (logits, the KV buffers) so the runtime and the prefixes need no second code path.
        return convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    return _quantize_weights(model, bits=int(precision[3:]))


def _quantize_weights(model: onnx.ModelProto, bits: int) -> onnx.ModelProto:
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    config = DefaultWeightOnlyQuantConfig(
        block_size=_BLOCK[f"int{bits}"], is_symmetric=False, accuracy_level=4, bits=bits
    )
    quantizer = MatMulNBitsQuantizer(model, algo_config=config)
    quantizer.process()
    return quantizer.model.model
