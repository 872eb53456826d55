"""Weight precision of the ONNX Runtime graph: fp32 as exported, fp16, or block-wise int8/int4 weights.

int8/int4 are weight-only `MatMulNBits` (blocks of 32 along the input dimension, uint8 zero points; `nbits` fits each
block's grid, ORT's quantizer is not used). accuracy_level 4 lets ONNX Runtime compute with int8 activations: the
only fast CPU kernel (levels 0/1 run 8-bit weights ~70× slower). Prefixes are not part of the graph: they stay
float32 in their own files.

Chosen by `prefixdeploy verify` on SmolLM2-135M-Instruct (GGUF Q4_1 layers, Q8_0 lm_head; 20 prompts × 32 greedy
tokens; prefixes sentiment / extract) and `prefixdeploy bench` (batch 1, ISL 56, OSL 32):

- int8: every weight at 8 bits in blocks of 32, aligned with the GGUF blocks, so the Q8_0 lm_head is exact and the
  Q4_1 layers nearly so. Greedy agreement 89% / 88% (was 74% / 69% with ORT's min–max in blocks of 128; agreement
  varies ±5–10 points between near-equal graphs), teacher-forced 98% / 98%, Δppl +0.2% (was +1.2%), 158 MB (was
  154 MB), 1.13× the old latency (197 vs 175 ms). What is left is the int8 activations: with exact activations
  (x split into its int8-grid part and the remainder, two MatMulNBits) agreement is 98% / 97%, at 2× the latency.
- int4: layers at 4 bits in blocks of 32, and the two most sensitive weights at 8 bits as llama.cpp's and GenAI's
  mixed recipes do: lm_head (its errors go straight into the logits) and the MLPs' down projections. Δppl +4.0% (was
  +28.6%; all-4-bit +17%, lm_head alone at 8 bits +11%), 117 MB (was 88 MB), 1.16× the old latency (165 vs 143 ms;
  GenAI's int4: 235 ms). A 4-bit uint8 zero point cannot hold Q4_1's real-valued minimum, so each block keeps an
  offset error of up to d/2; correcting it exactly in the graph (x's block sums times the offsets, as extra K rows)
  gave +3.7% with the lm_head at 8 bits, at ~1.25× the old latency.
"""

from __future__ import annotations

import logging

import onnx

from prefixdeploy.exporter.optimize.nbits import quantize_matmuls

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8", "int4")
BLOCK = 32  # GGUF's block: larger blocks mix GGUF blocks and lose their exact grids; 16 measured no better
ACCURACY_LEVEL = 4  # int8 activations: MLAS's fast kernels
LM_HEAD = "lm_head."  # the MatMul weight `untie_lm_head` adds
DOWN = ".mlp.down."  # the decoder builder's down projections


def convert_precision(model: onnx.ModelProto, precision: str) -> onnx.ModelProto:
    if precision == "fp32":
        return model
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # Keep float32 I/O (logits, the KV buffers) so the runtime and the prefixes need no second code path.
        return convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=True)
    bits = int(precision[3:])

    def bits_of(name: str) -> int:
        return 8 if name.startswith(LM_HEAD) or DOWN in name else bits

    return quantize_matmuls(model, bits_of, block=BLOCK, accuracy_level=ACCURACY_LEVEL)
