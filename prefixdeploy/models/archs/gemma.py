"""Gemma 3 text (`gemma3_text`) and Gemma 2 (`gemma2`): embeddings scaled by √hidden, RMSNorm with (1 + w), a gated
GELU-tanh MLP, norms before and after attention and MLP, query_pre_attn_scalar, and sliding-window layers beside
global ones. Gemma 3 adds q/k norms and its own rotary base for the sliding layers; Gemma 2 soft-caps the attention
scores and the logits.
"""

from __future__ import annotations

from dataclasses import replace

from prefixdeploy.models.archs import register
from prefixdeploy.models.archs.base import AttentionSpec, LayerWeights, MlpStyle
from prefixdeploy.models.archs.llama import LENGTH_DEPENDENT_ROPE, LlamaArch

SLIDING = "sliding_attention"


@register
class Gemma2Arch(LlamaArch):
    model_types = ("gemma2",)  # one rotary table for every layer (its sliding layers have no table of their own)
    mlp = MlpStyle.GEGLU_TANH
    norm_weight_offset = 1.0

    def check_config(self) -> None:
        c = self.config
        if c.hidden_activation != "gelu_pytorch_tanh":
            self.refuse(f"hidden_activation={c.hidden_activation!r}")
        if getattr(c, "use_bidirectional_attention", False):
            self.refuse("use_bidirectional_attention=True")
        for layer_type, rope in self._rope_by_layer_type().items():
            if (rope or {}).get("rope_type", "default") in LENGTH_DEPENDENT_ROPE:
                self.refuse(f"rope_parameters[{layer_type!r}].rope_type={rope['rope_type']!r}")

    def _rope_by_layer_type(self) -> dict:
        rope = self.rope_parameters()
        return rope if set(rope) <= {"full_attention", SLIDING} else {"all": rope}

    def embedding_scale(self) -> float:
        return self.config.hidden_size**0.5

    def attention(self, i: int) -> AttentionSpec:
        c = self.config
        sliding = c.layer_types[i] == SLIDING
        return AttentionSpec(
            scale=c.query_pre_attn_scalar**-0.5,
            window=c.sliding_window if sliding else None,
            softcap=getattr(c, "attn_logit_softcapping", None),
            local_rope=sliding,
        )

    def final_logit_softcapping(self) -> float | None:
        return getattr(self.config, "final_logit_softcapping", None)

    def layer(self, i: int) -> LayerWeights:
        p = f"model.layers.{i}"
        return LayerWeights(
            ln_1=self.norm_weights(f"{p}.input_layernorm"),
            ln_2=self.norm_weights(f"{p}.pre_feedforward_layernorm"),
            q=self.linear(f"{p}.self_attn.q_proj"),
            k=self.linear(f"{p}.self_attn.k_proj"),
            v=self.linear(f"{p}.self_attn.v_proj"),
            o=self.linear(f"{p}.self_attn.o_proj"),
            mlp={name: self.linear(f"{p}.mlp.{name}_proj") for name in ("gate", "up", "down")},
            post_attn_norm=self.norm_weights(f"{p}.post_attention_layernorm"),
            post_mlp_norm=self.norm_weights(f"{p}.post_feedforward_layernorm"),
        )


@register
class Gemma3Arch(Gemma2Arch):
    model_types = ("gemma3_text",)  # q/k norms; the sliding layers rotate with their own base (rope_local_base_freq)

    def layer(self, i: int) -> LayerWeights:
        p = f"model.layers.{i}.self_attn"
        q_norm, k_norm = self.norm_weights(f"{p}.q_norm"), self.norm_weights(f"{p}.k_norm")
        return replace(super().layer(i), q_norm=q_norm, k_norm=k_norm)
