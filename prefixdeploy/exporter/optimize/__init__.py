"""Derive the ONNX Runtime graph of a bundle from its portable graph, at a chosen weight precision.

portable (switchable) graph → fused attention with an in-place KV buffer → last-token logits → weights at the chosen
precision (fp32 | fp16 | int8 | int4, int4 by a mixed, pure or mixed-dynamic recipe; prefixes stay float32 in their
own files; int8/int4 look embeddings up in the lm_head's quantized blocks; the dynamic recipes, int8's dynamic and
int4's mixed-dynamic, then move the 8-bit weights to dynamically quantized matmuls, the activations' outliers first
smoothed into the weights by scales measured on a calibration text) → ONNX Runtime's offline graph optimizations
(fused norms, …) → residual Add + norm fused → saved so that loading does not optimize again; beside it, its
mixed-step twin (`mixed.py`: the same weights, decode rows and one prompt chunk in one forward, for the serving
engine).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import onnx

from prefixdeploy.exporter.optimize.calibrate import empty_cache_feeds
from prefixdeploy.exporter.optimize.edit import GraphEdit
from prefixdeploy.exporter.optimize.embedding import quantize_embedding_lookup, separate_lookup_table
from prefixdeploy.exporter.optimize.mixed import write_mixed_twin
from prefixdeploy.exporter.optimize.passes import (
    check_fusable,
    fuse_attention,
    fuse_skip_norm,
    last_token_logits,
    untie_lm_head,
)
from prefixdeploy.exporter.optimize.precision import convert_precision, nbits_recipe
from prefixdeploy.exporter.optimize.save import save_optimized
from prefixdeploy.exporter.optimize.smooth import dynamic_weights, smoothing_of
from prefixdeploy.models.archs.base import ArchSpec, RopeSpec
from prefixdeploy.vocabulary import RECIPES

log = logging.getLogger(__name__)

__all__ = ["build_ort_graph", "check_fusable"]


def build_ort_graph(
    portable: onnx.ModelProto,
    arch: ArchSpec,
    rope: RopeSpec | None,
    precision: str,
    out: Path,
    shared_data: Path,
    recipe: str | None = None,
    calibration_ids: Sequence[int] = (),
) -> None:
    """Write the ONNX Runtime variant of `portable` (a switchable graph of `arch`, weights in memory) to `out`.

    recipe: an int4 graph's or an int8 graph's (`precision.INT4`, `precision.INT8`: the bits of each weight, and
    whether the 8-bit ones go dynamic); None: the precision's default. calibration_ids (T,): the tokens of a text the
    float graph runs once over to measure the activations that the dynamic recipes smooth (`smooth.py`).

    Initializers identical to ones in `shared_data` (the portable graph's external data) are referenced there, not
    written again.
    """
    model = onnx.ModelProto()
    model.CopyFrom(portable)
    edit = GraphEdit(model)
    fuse_attention(edit, arch, rope)
    last_token_logits(edit, arch.dims())
    tied = untie_lm_head(edit) if precision in ("int8", "int4") else None  # (table, lm_head weight)
    if tied is None:
        separate_lookup_table(edit)
    edit.prune()
    model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    log.info("converting weights to %s", precision)
    model = convert_precision(model, precision, recipe)
    if tied is not None:
        edit = GraphEdit(model)
        if quantize_embedding_lookup(edit, *tied):
            edit.prune()  # the float table is read no more
    nbits = nbits_recipe(precision, recipe) if precision in RECIPES else None
    if nbits is not None and nbits.dynamic:  # after the lookup, which reads the lm_head's 8-bit blocks
        feeds = empty_cache_feeds(portable, calibration_ids)
        model = dynamic_weights(model, smoothing_of(portable, feeds, nbits.is_dynamic))
    save_optimized(model, out, shared_data, after=fuse_skip_norm)
    write_mixed_twin(out)  # the same weights, decode rows and a prompt chunk in one forward (serving)
