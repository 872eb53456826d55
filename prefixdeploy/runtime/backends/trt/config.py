"""TensorRT engine options and the optimization profile they imply: each dynamic axis of the decoder I/O and its range.

Must not import torch or tensorrt. The engine's memory follows the profile's largest shapes (TensorRT sizes the
execution context's activation memory for them, and the backend's I/O buffers grow to them), so the defaults are
sized for an 8 GB Jetson Orin Nano; docs/tensorrt.md has the arithmetic, and `profile_memory` computes it.

Shape letters as in `generate.py`: B rows, T tokens fed this step, S cache length, H heads, H_kv kv heads, D head
dim, V vocab, L layers, I the MLP's inner width.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime import manifest as names

# The dynamic axes of the decoder I/O (named as in the ONNX graph), and the option that bounds each.
BATCH, SEQUENCE, PAST, TOTAL = "batch_size", "sequence_length", "past_sequence_length", "total_sequence_length"
OPTION_OF_AXIS = {BATCH: "max_batch", SEQUENCE: "max_sequence", PAST: "max_total", TOTAL: "max_total"}

# Defaults that fit an 8 GB Jetson Orin Nano with a 1B model at fp16 (docs/tensorrt.md); raise them on a bigger GPU.
DEFAULT_MAX_BATCH, DEFAULT_MAX_SEQUENCE, DEFAULT_MAX_TOTAL = 4, 256, 1024


def _name_pattern(*templates: str) -> re.Pattern:
    return re.compile("|".join(r"\d+".join(map(re.escape, t.split("{}"))) for t in templates))


_PAST = _name_pattern(names.PAST_KEY, names.PAST_VALUE)
_PRESENT = _name_pattern(names.PRESENT_KEY, names.PRESENT_VALUE)


def tensor_axes(name: str, rank: int) -> tuple[str | None, ...]:
    """The dynamic-axis name of each dimension of a decoder I/O tensor (None: fixed), as the exporter names them."""
    axes: tuple[str | None, ...]
    if name in (names.INPUT_IDS, names.POSITION_IDS):
        axes = (BATCH, SEQUENCE)  # (B, T)
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


@dataclass(frozen=True, kw_only=True)
class TrtConfig:
    """How the engine is built; every field is part of the engine cache key."""

    fp16: bool = False  # let TensorRT pick fp16 kernels (TensorRT 10 only: 11 removed the flag); I/O stays float32
    max_batch: int = DEFAULT_MAX_BATCH  # most rows in one call
    max_sequence: int = DEFAULT_MAX_SEQUENCE  # most tokens fed in one call (the longest prompt, with left padding)
    max_total: int = DEFAULT_MAX_TOTAL  # longest cache a decode step reaches: prefix + prompt + new tokens
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
        total = (past[0] + new[0], past[1] + new[1], past[2] + new[2])
        return {BATCH: (1, 1, self.max_batch), SEQUENCE: new, PAST: past, TOTAL: total}


def bundle_options(options: dict, max_context: int) -> dict:
    """`options` with the profile's defaults filled in for a bundle: TrtConfig's, never beyond the model's context."""
    filled = dict(options)
    filled.setdefault("max_total", min(DEFAULT_MAX_TOTAL, max_context))
    filled.setdefault("max_sequence", min(DEFAULT_MAX_SEQUENCE, filled["max_total"]))
    return filled


@dataclass(frozen=True, kw_only=True)
class DecoderShape:
    """The sizes of a decoder that set its memory at a profile corner (names as in Hugging Face configs)."""

    num_layers: int  # L
    num_attention_heads: int  # H
    num_key_value_heads: int  # H_kv
    head_dim: int  # D
    intermediate_size: int  # I
    vocab_size: int  # V


def profile_memory(shape: DecoderShape, config: TrtConfig) -> dict[str, int]:
    """Bytes the portable graph's fp32 I/O and largest activations take at the profile's max corner.

    B = max_batch, T = max_sequence, S = max_total - 1 + T (a prefill onto the longest past the profile allows).
    past and present are the backend's device I/O buffers (float32 whatever the engine's precision); logits is the
    (B, T, V) output; activations are a lower bound of the context memory TensorRT reserves: one layer's attention
    scores and probabilities (B, H, T, S) and its MLP's gate|up and product (B, T, 3·I), all float32.
    """
    r = config.ranges()
    B, T, past, S = r[BATCH][2], r[SEQUENCE][2], r[PAST][2], r[TOTAL][2]
    per_token = shape.num_layers * 2 * shape.num_key_value_heads * shape.head_dim * 4  # K and V of every layer
    return {
        "past": B * past * per_token,
        "present": B * S * per_token,
        "logits": B * T * shape.vocab_size * 4,
        "activations": (2 * B * shape.num_attention_heads * T * S + 3 * B * T * shape.intermediate_size) * 4,
    }
