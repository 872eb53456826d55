"""What the generic decoder builder needs to know about a model family: attribute names, weight names, styles.

A family is a tiny `ArchSpec` subclass registered by Hugging Face `model_type` (see `archs/__init__.py`).
Weights are numpy float32 arrays; linear weights are returned as (in, out), the layout ONNX MatMul wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from prefixdeploy.errors import UnsupportedModelError

Linear = tuple[np.ndarray, np.ndarray | None]  # (weight (in, out), bias (out,) or None)
Norm = tuple[np.ndarray, np.ndarray | None]  # (scale (hidden,), bias (hidden,) or None)


class NormStyle(Enum):
    LAYER = "layer"  # LayerNorm with bias
    RMS = "rms"  # RMSNorm, no bias


class PositionStyle(Enum):
    LEARNED = "learned"  # an absolute table added to the embeddings
    ROPE = "rope"  # rotary on q and k


class MlpStyle(Enum):
    GELU_TANH = "gelu_tanh"  # fc_in → gelu (tanh) → fc_out
    SWIGLU = "swiglu"  # down(silu(gate) · up)
    GEGLU_TANH = "geglu_tanh"  # down(gelu_tanh(gate) · up) (Gemma)


@dataclass(frozen=True, kw_only=True)
class ArchDims:
    """The numbers of a decoder the graph needs, read from its HF config by the family's attribute names.

    Not to be confused with the runtime's `ModelFacts`: the few of these a prefix must fit, plus a weights fingerprint.
    """

    num_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    hidden_size: int
    vocab_size: int
    max_positions: int
    norm_eps: float


@dataclass(frozen=True)
class RopeSpec:
    """Rotary tables as HF's rotary module holds them (so scaled rope types come for free)."""

    inv_freq: np.ndarray  # (R/2,) float32; R ≤ D rotary dims (partial rotary turns the first R of each head)
    scaling: float  # HF's attention_scaling, multiplied into cos and sin
    local: RopeSpec | None = None  # the table of layers with `AttentionSpec.local_rope` (Gemma 3's sliding layers)

    @property
    def rotary_dim(self) -> int:
        return 2 * len(self.inv_freq)


@dataclass(frozen=True)
class AttentionSpec:
    """How one layer forms its attention scores, the same in the portable graph and ONNX Runtime's fused op."""

    scale: float  # multiplies q·k (HF's `scaling`)
    window: int | None = None  # sliding window: a query sees keys less than `window` positions back (HF's)
    softcap: float | None = None  # scores → softcap·tanh(scores / softcap) before the mask (Gemma 2)
    local_rope: bool = False  # rotate with `RopeSpec.local`


@dataclass(frozen=True)
class LayerWeights:
    ln_1: Norm  # before attention
    ln_2: Norm  # before the MLP
    q: Linear
    k: Linear
    v: Linear
    o: Linear
    mlp: dict[str, Linear]  # gelu_tanh: fc_in, fc_out; swiglu, geglu_tanh: gate, up, down
    q_norm: Norm | None = None  # over each head's D, before the rotation (Qwen3, Gemma 3); k_norm with it
    k_norm: Norm | None = None
    post_attn_norm: Norm | None = None  # on the attention output, before the residual add (Gemma)
    post_mlp_norm: Norm | None = None  # on the MLP output, before the residual add (Gemma)


class ArchSpec:
    """One model family. Subclasses set the class attributes and map weight names.

    The styles are closed sets: the graph builder dispatches on them through tables that raise on a style they lack.
    """

    model_types: tuple[str, ...] = ()
    norm: NormStyle = NormStyle.RMS
    positions: PositionStyle = PositionStyle.ROPE
    mlp: MlpStyle = MlpStyle.SWIGLU
    norm_weight_offset: float = 0.0  # added to every norm's scale (Gemma's RMSNorm multiplies by 1 + w)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for field, style in (("norm", NormStyle), ("positions", PositionStyle), ("mlp", MlpStyle)):
            if not isinstance(getattr(cls, field), style):
                raise TypeError(f"{cls.__name__}.{field} must be a {style.__name__}, got {getattr(cls, field)!r}")

    def __init__(self, config, state: dict[str, np.ndarray]):
        self.config, self.state = config, state

    def dims(self) -> ArchDims:
        raise NotImplementedError

    def check_config(self) -> None:
        """Refuse configurations the generic graph does not reproduce exactly (raise UnsupportedModelError)."""

    def embeddings(self) -> np.ndarray:
        raise NotImplementedError

    def embedding_scale(self) -> float:
        """What the token embeddings are multiplied by before the first layer (Gemma: √hidden)."""
        return 1.0

    def attention(self, i: int) -> AttentionSpec:
        """Layer i's attention scores: 1/√D, every earlier key, no soft-capping unless the family says otherwise."""
        return AttentionSpec(scale=1.0 / np.sqrt(self.dims().head_dim))

    def residual_scale(self) -> float:
        """What each block's output is multiplied by before the residual add (Granite's residual_multiplier)."""
        return 1.0

    def logits_scaling(self) -> float:
        """What the logits are divided by (Granite's logits_scaling)."""
        return 1.0

    def final_logit_softcapping(self) -> float | None:
        """logits → c·tanh(logits / c) (Gemma 2's final_logit_softcapping)."""
        return None

    def position_table(self) -> np.ndarray | None:
        return None

    def layer(self, i: int) -> LayerWeights:
        raise NotImplementedError

    def final_norm(self) -> Norm:
        raise NotImplementedError

    def lm_head(self) -> np.ndarray | None:
        """(V, hidden), or None when tied to the embeddings (then stored once)."""
        return None if getattr(self.config, "tie_word_embeddings", False) else self.state["lm_head.weight"]

    # helpers for subclasses
    def linear(self, name: str, transpose: bool = True) -> Linear:
        w = self.state[f"{name}.weight"]
        return (w.T if transpose else w), self.state.get(f"{name}.bias")

    def norm_weights(self, name: str) -> Norm:
        scale = self.state[f"{name}.weight"]
        if self.norm_weight_offset:  # folded in once, in float32 as HF adds it
            scale = scale + np.float32(self.norm_weight_offset)
        return scale, self.state.get(f"{name}.bias")

    def refuse(self, what: str) -> None:
        raise UnsupportedModelError(f"{self.config.model_type}: {what} is not supported by prefixdeploy's exporter")
