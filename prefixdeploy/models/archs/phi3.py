"""Phi-3 and Phi-4-mini (`phi3`): Llama's layout with a fused qkv_proj and gate_up_proj, partial rotary, LongRoPE."""

from __future__ import annotations

import numpy as np

from prefixdeploy.models.archs import register
from prefixdeploy.models.archs.base import ArchDims, AttentionSpec, LayerWeights
from prefixdeploy.models.archs.llama import LENGTH_DEPENDENT_ROPE, LlamaArch


@register
class Phi3Arch(LlamaArch):
    model_types = ("phi3",)

    def check_config(self) -> None:
        c = self.config
        if getattr(c, "hidden_act", "silu") != "silu":
            self.refuse(f"hidden_act={c.hidden_act!r}")
        rope_type = self.rope_parameters().get("rope_type", "default")
        if rope_type in LENGTH_DEPENDENT_ROPE and not self._short_rope_context():
            self.refuse(f"rope_parameters.rope_type={rope_type!r} without original_max_position_embeddings")

    def dims(self) -> ArchDims:
        # LongRoPE (Phi-3-128k, Phi-3.5, Phi-4-mini) is exact up to original_max_position_embeddings: there HF rotates
        # with the short factors, the table the graph holds; past it HF switches to the long factors, so the context
        # ends there.
        d, short = super().dims(), self._short_rope_context()
        return d if not short else ArchDims(**{**d.__dict__, "max_positions": min(d.max_positions, short)})

    def _short_rope_context(self) -> int | None:
        rope = self.rope_parameters()
        if rope.get("rope_type") != "longrope":
            return None
        short = rope.get("original_max_position_embeddings")
        return short or getattr(self.config, "original_max_position_embeddings", None)

    def attention(self, i: int) -> AttentionSpec:
        # Phi-3-mini-4k slides a window of 2047 over every layer (HF's sliding-window mask; PEFT's prefix slides too).
        return AttentionSpec(scale=1.0 / np.sqrt(self.dims().head_dim), window=self.config.sliding_window or None)

    def layer(self, i: int) -> LayerWeights:
        p = f"model.layers.{i}"
        d = self.dims()
        q, k, v = np.split(self.state[f"{p}.self_attn.qkv_proj.weight"], self._qkv_bounds(d), axis=0)  # (out, in)
        gate, up = np.split(self.state[f"{p}.mlp.gate_up_proj.weight"], 2, axis=0)  # HF's chunk(2): gate first
        return LayerWeights(
            ln_1=self.norm_weights(f"{p}.input_layernorm"),
            ln_2=self.norm_weights(f"{p}.post_attention_layernorm"),
            q=(q.T, None),
            k=(k.T, None),
            v=(v.T, None),
            o=self.linear(f"{p}.self_attn.o_proj"),
            mlp={"gate": (gate.T, None), "up": (up.T, None), "down": self.linear(f"{p}.mlp.down_proj")},
        )

    @staticmethod
    def _qkv_bounds(d: ArchDims) -> list[int]:
        q = d.num_attention_heads * d.head_dim
        return [q, q + d.num_key_value_heads * d.head_dim]
