"""Weight precision of the ONNX Runtime graph: fp32 as exported, fp16, or block-wise int8/int4 weights.

int8/int4 are weight-only `MatMulNBits` (blocks of 32 along the input dimension, uint8 zero points; `nbits` fits each
block's grid, ORT's quantizer is not used). accuracy_level 4 lets ONNX Runtime compute with int8 activations: the
only fast CPU kernel (levels 0/1 run 8-bit weights ~70× slower). Prefixes are not part of the graph: they stay
float32 in their own files.

Why these recipes (the measurements behind them are in docs/quantization.md):

- int8: every weight at 8 bits in blocks of 32, aligned with GGUF's blocks, so a GGUF-born model's Q8_0 weights stay
  exact and its Q4_1 weights nearly so. What error remains comes from the int8 activations of accuracy level 4.
- int4: layers at 4 bits in blocks of 32, and the two most sensitive weights at 8 bits, as llama.cpp's and GenAI's
  mixed recipes do: lm_head (its errors go straight into the logits) and the MLPs' down projections. A 4-bit uint8
  zero point cannot hold Q4_1's real-valued minimum, so each block keeps an offset error of up to d/2.
"""

from __future__ import annotations

import logging

import onnx

from prefixdeploy.exporter.optimize.nbits import quantize_matmuls
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names

log = logging.getLogger(__name__)

BLOCK = 32  # GGUF's block: larger blocks mix GGUF blocks and lose their exact grids; 16 measured no better
ACCURACY_LEVEL = 4  # int8 activations: MLAS's fast kernels
LM_HEAD = "lm_head."  # the MatMul weight `untie_lm_head` adds
DOWN = ".mlp.down."  # the decoder builder's down projections


def convert_precision(model: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    if precision == "fp32":
        return model
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # The KV inputs and outputs become float16 with the rest: GroupQueryAttention then reads and writes the
        # runtime's one buffer in place (float32 KV I/O would put a Cast on each side, so every step would cast
        # the whole cache in and out, on the GPU too). The runtime sizes its buffers by the graph's past dtype and
        # casts prefixes once when it seeds (uploads) them, as the Cast did. Logits stay float32 for the sampler.
        return convert_float_to_float16(model, keep_io_types=[io_names.LOGITS], disable_shape_infer=True)
    bits = int(precision[3:])

    def bits_of(name: str) -> int:
        return 8 if name.startswith(LM_HEAD) or DOWN in name else bits

    return quantize_matmuls(model, bits_of, block=BLOCK, accuracy_level=ACCURACY_LEVEL)
