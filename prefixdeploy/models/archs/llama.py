"""The Llama family: RMSNorm, rotary positions, SwiGLU, grouped-query attention (Llama, Mistral, Qwen2, SmolLM2)."""

from __future__ import annotations

import numpy as np

from prefixdeploy.models.archs import register
from prefixdeploy.models.archs.base import ArchDims, ArchSpec, LayerWeights


@register
class LlamaArch(ArchSpec):
    model_types = ("llama",)  # SmolLM2 is a Llama checkpoint

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
        rope = getattr(c, "rope_parameters", None) or getattr(c, "rope_scaling", None) or {}
        if rope.get("rope_type", "default") in ("dynamic", "longrope"):
            # Their frequencies depend on the sequence length; the graph bakes one frequency table.
            self.refuse(f"rope_type={rope['rope_type']!r}")

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
