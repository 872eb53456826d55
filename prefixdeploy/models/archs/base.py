"""What the generic decoder builder needs to know about a model family: attribute names, weight names, styles.

A family is a tiny `ArchSpec` subclass registered by Hugging Face `model_type` (see `archs/__init__.py`).
Weights are numpy float32 arrays; linear weights are returned as (in, out), the layout ONNX MatMul wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prefixdeploy.errors import UnsupportedModelError

Linear = tuple[np.ndarray, np.ndarray | None]  # (weight (in, out), bias (out,) or None)
Norm = tuple[np.ndarray, np.ndarray | None]  # (scale (hidden,), bias (hidden,) or None)


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
    inv_freq: np.ndarray  # (D/2,) float32, from the HF rotary module (so scaled rope types come for free)
    scaling: float  # HF's attention_scaling, multiplied into cos and sin


@dataclass(frozen=True)
class LayerWeights:
    ln_1: Norm  # before attention
    ln_2: Norm  # before the MLP
    q: Linear
    k: Linear
    v: Linear
    o: Linear
    mlp: dict[str, Linear]  # gelu_tanh: fc_in, fc_out; swiglu: gate, up, down


class ArchSpec:
    """One model family. Subclasses set the class attributes and map weight names."""

    model_types: tuple[str, ...] = ()
    norm: str = "rms"  # "layer" (LayerNorm with bias) | "rms" (RMSNorm, no bias)
    positions: str = "rope"  # "learned" (absolute table added to embeddings) | "rope" (rotary on q and k)
    mlp: str = "swiglu"  # "gelu_tanh" (fc_in → gelu tanh → fc_out) | "swiglu" (down(silu(gate) * up))

    def __init__(self, config, state: dict[str, np.ndarray]):
        self.config, self.state = config, state

    def dims(self) -> ArchDims:
        raise NotImplementedError

    def check_config(self) -> None:
        """Refuse configurations the generic graph does not reproduce exactly (raise UnsupportedModelError)."""

    def embeddings(self) -> np.ndarray:
        raise NotImplementedError

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
        return self.state[f"{name}.weight"], self.state.get(f"{name}.bias")

    def refuse(self, what: str) -> None:
        raise UnsupportedModelError(f"{self.config.model_type}: {what} is not supported by prefixdeploy's exporter")
