"""GPT-2 (`GPT2LMHeadModel`): LayerNorm, learned absolute positions, fused c_attn Conv1D, gelu (tanh)."""

from __future__ import annotations

import numpy as np

from prefixdeploy.models.archs import register
from prefixdeploy.models.archs.base import ArchDims, ArchSpec, LayerWeights, MlpStyle, NormStyle, PositionStyle


@register
class GPT2Arch(ArchSpec):
    model_types = ("gpt2",)
    norm, positions, mlp = NormStyle.LAYER, PositionStyle.LEARNED, MlpStyle.GELU_TANH

    def dims(self) -> ArchDims:
        c = self.config
        return ArchDims(
            num_layers=c.n_layer,
            num_attention_heads=c.n_head,
            num_key_value_heads=c.n_head,
            head_dim=c.n_embd // c.n_head,
            hidden_size=c.n_embd,
            vocab_size=c.vocab_size,
            max_positions=c.n_positions,
            norm_eps=c.layer_norm_epsilon,
        )

    def check_config(self) -> None:
        c = self.config
        if c.activation_function not in ("gelu_new", "gelu_pytorch_tanh"):
            self.refuse(f"activation_function={c.activation_function!r}")
        if not c.scale_attn_weights or c.scale_attn_by_inverse_layer_idx or c.reorder_and_upcast_attn:
            self.refuse("non-default attention scaling")

    def embeddings(self) -> np.ndarray:
        return self.state["transformer.wte.weight"]

    def position_table(self) -> np.ndarray:
        return self.state["transformer.wpe.weight"]

    def layer(self, i: int) -> LayerWeights:
        p = f"transformer.h.{i}"
        # Conv1D stores (in, out) already; c_attn packs [q | k | v] along out.
        w, b = self.linear(f"{p}.attn.c_attn", transpose=False)
        (wq, wk, wv), (bq, bk, bv) = np.split(w, 3, axis=1), np.split(b, 3)
        return LayerWeights(
            ln_1=self.norm_weights(f"{p}.ln_1"),
            ln_2=self.norm_weights(f"{p}.ln_2"),
            q=(wq, bq),
            k=(wk, bk),
            v=(wv, bv),
            o=self.linear(f"{p}.attn.c_proj", transpose=False),
            mlp={
                "fc_in": self.linear(f"{p}.mlp.c_fc", transpose=False),
                "fc_out": self.linear(f"{p}.mlp.c_proj", transpose=False),
            },
        )

    def final_norm(self):
        return self.norm_weights("transformer.ln_f")
