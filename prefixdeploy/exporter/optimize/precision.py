"""Weight precision of the ONNX Runtime graph: fp32 as exported, fp16, or block-wise int8/int4 weights.

int8/int4 are weight-only `MatMulNBits` (blocks of 32 along the input dimension, uint8 zero points; `nbits` fits each
block's grid, ORT's quantizer is not used). accuracy_level 4 lets ONNX Runtime compute with int8 activations: the
only fast CPU kernel (levels 0/1 run 8-bit weights ~70× slower). Prefixes are not part of the graph: they stay
float32 in their own files.

Why these recipes (the measurements behind them are in docs/quantization.md):

- int8: every weight at 8 bits in blocks of 32, aligned with GGUF's blocks, so a GGUF-born model's Q8_0 weights stay
  exact and its Q4_1 weights nearly so. What error remains comes from the int8 activations of accuracy level 4.
- int4, recipe `mixed` (the default): layers at 4 bits in blocks of 32, and the two most sensitive weights at 8 bits,
  as llama.cpp's and GenAI's mixed recipes do: lm_head (its errors go straight into the logits) and the MLPs' down
  projections. A 4-bit uint8 zero point cannot hold Q4_1's real-valued minimum, so each block keeps an offset error of
  up to d/2.
- int4, recipe `pure`: every weight at 4 bits, lm_head and down projections included (and so the embedding lookup,
  which reads the lm_head's blocks): a quarter fewer weight bytes for a decode step to read, as llama.cpp's Q4_0
  files hold. On SmolLM2 its batch-1 decode step took 0.83× mixed's, at Δppl +17% against mixed's +4%, so it is an
  option, not the default. Blocks of 64 were faster still and far worse (+39%): they mix two of GGUF's blocks.
- int4, recipe `mixed-dynamic`: mixed's blocks, then its 8-bit weights (lm_head, down projections) in ONNX
  Runtime's dynamically quantized matmul as int8's `dynamic` recipe does (below), the down projections' inputs smoothed
  through the up projections' 4-bit block scales (exact: a column's blocks scale alike). The 4-bit weights stay in
  MatMulNBits, whose cost grows with rows; on SmolLM2 a 56-token prefill took 0.91×, one row's step 0.95× and a step of
  8 rows 0.82× mixed's, at Δppl +3.4% (mixed: +4.0%), for 24 MB more weights (the lookup keeps the lm_head's blocks).
- int8, recipe `blocks` (the default): the int8 recipe above, every weight in MatMulNBits.
- int8, recipe `dynamic`: the same blocks, then every weight in ONNX Runtime's dynamically quantized matmul
  (`dynamic.py`), whose GEMM scales with rows where MatMulNBits does not, its inputs' outlier channels first moved
  into the weights (`smooth.py`, SmoothQuant's scaling, folded exactly into the norms and the up projections, measured
  on a calibration text): one scale per call for the whole input cannot hold them otherwise. Unsmoothed, with the down
  projections left in blocks, Δppl was +2.8% (all dynamic: +4.7%); smoothed, all dynamic, it is +2.2% (blocks:
  +0.2%), with a 56-token prefill at 0.77–0.91× and a step of 8 rows at 0.85–0.86× of the unsmoothed graph's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import onnx

from prefixdeploy.exporter.optimize.nbits import quantize_matmuls
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.vocabulary import RECIPES

log = logging.getLogger(__name__)

BLOCK = 32  # GGUF's block: larger blocks mix GGUF blocks and lose their exact grids; 16 measured no better
ACCURACY_LEVEL = 4  # int8 activations: MLAS's fast kernels
LM_HEAD = "lm_head."  # the MatMul weight `untie_lm_head` adds
DOWN = ".mlp.down."  # the decoder builder's down projections


@dataclass(frozen=True)
class NBitsRecipe:
    """Bits of each MatMul weight of a quantized graph, and MatMulNBits' block size and accuracy level."""

    bits: int  # every weight but the two below
    lm_head_bits: int
    down_bits: int  # the MLPs' down projections
    block: int = BLOCK
    accuracy_level: int = ACCURACY_LEVEL
    dynamic: bool = False  # then each 8-bit weight in DynamicQuantizeMatMul, its input smoothed (`smooth.py`)

    def bits_of(self, name: str) -> int:
        if name.startswith(LM_HEAD):
            return self.lm_head_bits
        return self.down_bits if DOWN in name else self.bits

    def is_dynamic(self, name: str) -> bool:
        """Whether weight `name` ends in DynamicQuantizeMatMul: the 8-bit weights of a dynamic recipe."""
        return self.dynamic and self.bits_of(name) == 8


INT8 = {  # keyed by vocabulary.INT8_RECIPES, as INT4 by INT4_RECIPES (a test holds them together)
    "blocks": NBitsRecipe(bits=8, lm_head_bits=8, down_bits=8),
    "dynamic": NBitsRecipe(bits=8, lm_head_bits=8, down_bits=8, dynamic=True),
}
INT4 = {
    "mixed": NBitsRecipe(bits=4, lm_head_bits=8, down_bits=8),
    "pure": NBitsRecipe(bits=4, lm_head_bits=4, down_bits=4),
    "mixed-dynamic": NBitsRecipe(bits=4, lm_head_bits=8, down_bits=8, dynamic=True),
}


def nbits_recipe(precision: str, recipe: str | None = None) -> NBitsRecipe:
    """The blocks of a quantized precision (int8 | int4) and its recipe (vocabulary.RECIPES; None: the default)."""
    if precision not in RECIPES or (recipe is not None and recipe not in RECIPES[precision]):
        raise ValueError(f"no recipe {recipe!r} for precision {precision!r}")
    return {"int8": INT8, "int4": INT4}[precision][recipe or RECIPES[precision][0]]


def convert_precision(model: onnx.ModelProto, precision: str, recipe: str | None = None) -> onnx.ModelProto:
    if precision == "fp32":
        return model
    if precision == "fp16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        # The KV inputs and outputs become float16 with the rest: GroupQueryAttention then reads and writes the
        # runtime's one buffer in place (float32 KV I/O would put a Cast on each side, so every step would cast
        # the whole cache in and out, on the GPU too). The runtime sizes its buffers by the graph's past dtype and
        # casts prefixes once when it seeds (uploads) them, as the Cast did. Logits stay float32 for the sampler.
        return convert_float_to_float16(model, keep_io_types=[io_names.LOGITS], disable_shape_infer=True)
    return quantize_weights(model, nbits_recipe(precision, recipe))


def quantize_weights(model: onnx.ModelProto, recipe: NBitsRecipe) -> onnx.ModelProto:
    """Every MatMul with a 2-D weight initializer as MatMulNBits at the recipe's bits for that weight."""
    return quantize_matmuls(model, recipe.bits_of, block=recipe.block, accuracy_level=recipe.accuracy_level)
