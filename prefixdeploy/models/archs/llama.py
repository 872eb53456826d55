"""The Llama family: RMSNorm, rotary positions, SwiGLU, grouped-query attention (Llama 2/3.x, Mistral, Qwen2,
Qwen3, Granite, SmolLM2)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from prefixdeploy.models.archs import register
from prefixdeploy.models.archs.base import ArchDims, ArchSpec, AttentionSpec, LayerWeights

# Rope types whose frequencies depend on the sequence length; the graph bakes one frequency table.
LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


@register
class LlamaArch(ArchSpec):
    model_types = ("llama",)  # SmolLM2 is a Llama checkpoint; Llama 3.x's rope_type "llama3" is a fixed table

    def dims(self) -> ArchDims:
        c = self.config
        head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
        kv_heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
        return ArchDims(
            num_layers=c.num_hidden_layers,
            num_attention_heads=c.num_attention_heads,
            num_key_value_heads=kv_heads,
            head_dim=head_dim,
            hidden_size=c.hidden_size,
            vocab_size=c.vocab_size,
            max_positions=c.max_position_embeddings,
            norm_eps=c.rms_norm_eps,
        )

    def check_config(self) -> None:
        c = self.config
        if getattr(c, "hidden_act", "silu") != "silu":
            self.refuse(f"hidden_act={c.hidden_act!r}")
        if getattr(c, "mlp_bias", False):
            self.refuse("mlp_bias=True")
        rope_type = self.rope_parameters().get("rope_type", "default")
        if rope_type in LENGTH_DEPENDENT_ROPE:
            self.refuse(f"rope_parameters.rope_type={rope_type!r}")

    def rope_parameters(self) -> dict:
        c = self.config
        return getattr(c, "rope_parameters", None) or getattr(c, "rope_scaling", None) or {}

    def embeddings(self) -> np.ndarray:
        return self.state["model.embed_tokens.weight"]

    def layer(self, i: int) -> LayerWeights:
        p = f"model.layers.{i}"
        return LayerWeights(
            ln_1=self.norm_weights(f"{p}.input_layernorm"),
            ln_2=self.norm_weights(f"{p}.post_attention_layernorm"),
            q=self.linear(f"{p}.self_attn.q_proj"),
            k=self.linear(f"{p}.self_attn.k_proj"),
            v=self.linear(f"{p}.self_attn.v_proj"),
            o=self.linear(f"{p}.self_attn.o_proj"),
            mlp={name: self.linear(f"{p}.mlp.{name}_proj") for name in ("gate", "up", "down")},
        )

    def final_norm(self):
        return self.norm_weights("model.norm")


@register
class MistralArch(LlamaArch):
    model_types = ("mistral",)

    def dims(self) -> ArchDims:
        # Attention is exact up to the sliding window; beyond it Mistral forgets, which the graph does not do.
        d, window = super().dims(), getattr(self.config, "sliding_window", None)
        return d if not window else ArchDims(**{**d.__dict__, "max_positions": min(d.max_positions, window)})


@register
class Qwen2Arch(LlamaArch):
    model_types = ("qwen2",)  # q/k/v carry a bias: `linear` picks it up from the weights

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "use_sliding_window", False):
            self.refuse("use_sliding_window=True")


@register
class Qwen3Arch(LlamaArch):
    """Qwen3: RMSNorm on each head of q and k before the rotation (q_norm, k_norm); head_dim need not be
    hidden/heads. The prefix keys enter as PEFT computed them (after its k-norm and rotation), so only the real
    tokens' keys pass through the norm in the graph."""

    model_types = ("qwen3",)

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "use_sliding_window", False):
            self.refuse("use_sliding_window=True")

    def layer(self, i: int) -> LayerWeights:
        p = f"model.layers.{i}.self_attn"
        q_norm, k_norm = self.norm_weights(f"{p}.q_norm"), self.norm_weights(f"{p}.k_norm")
        return replace(super().layer(i), q_norm=q_norm, k_norm=k_norm)


@register
class GraniteArch(LlamaArch):
    """Granite 3.x: Llama with four multipliers (embedding, attention, residual, logits)."""

    model_types = ("granite",)

    def embedding_scale(self) -> float:
        return float(self.config.embedding_multiplier)

    def attention(self, i: int) -> AttentionSpec:
        return AttentionSpec(scale=float(self.config.attention_multiplier))

    def residual_scale(self) -> float:
        return float(self.config.residual_multiplier)

    def logits_scaling(self) -> float:
        return float(self.config.logits_scaling)
