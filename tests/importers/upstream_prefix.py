"""Prefix modules written the way upstream writes them, to build real checkpoints and the reference caches.

`LiLiangPrefix` mirrors `PrefixTuning` in Li & Liang's gpt2/train_control.py (`LiLiangPrefixEmb` its `PrefixEmbTuning`,
`LiLiangBartPrefix` the BART `PrefixTuning` of seq2seq/prefixTuning.py); `PrefixEncoder` and `PTuningV2Model`
mirror THUDM's P-Tuning v2 (model/prefix_encoder.py and the *PrefixFor* models). Each `get_prompt` is the upstream
`view(B, P, 2L, H, hd).permute([2, 0, 3, 1, 4]).split(2)`: one (2, B, H, P, hd) tensor per layer, keys then values.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from prefixdeploy.models.load import LoadedModel
from prefixdeploy.runtime.prefix import ModelFacts, Prefix


class LiLiangPrefix(nn.Module):
    """The parameters of Li & Liang's PrefixTuning. mode: "mlp" (default), "deep" (deep_param) or "shallow"."""

    def __init__(self, n_layer: int, n_head: int, n_embd: int, preseqlen: int, mid_dim: int = 24, mode: str = "mlp"):
        super().__init__()
        self.L, self.H, self.hd, self.P, self.mode = n_layer, n_head, n_embd // n_head, preseqlen, mode
        if mode == "shallow":  # init_shallow, random init: the flat values themselves
            self.control_trans = nn.Parameter(torch.randn(preseqlen * n_layer * 2 * n_embd))
            return
        self.input_tokens = torch.arange(preseqlen).long()
        self.wte = nn.Embedding(preseqlen, n_embd)
        hidden = [nn.Linear(mid_dim, mid_dim), nn.Tanh()] if mode == "deep" else []
        self.control_trans = nn.Sequential(
            nn.Linear(n_embd, mid_dim), nn.Tanh(), *hidden, nn.Linear(mid_dim, n_layer * 2 * n_embd)
        )

    @torch.no_grad()
    def get_prompt(self, bsz: int = 1) -> tuple[torch.Tensor, ...]:
        if self.mode == "shallow":  # get_prompt_p2
            pkv = self.control_trans.view(1, self.P, self.L * 2, self.H, self.hd).expand(bsz, -1, -1, -1, -1)
        else:  # get_prompt_p5
            pkv = self.control_trans(self.wte(self.input_tokens.unsqueeze(0).expand(bsz, -1)))
            pkv = pkv.view(bsz, self.P, self.L * 2, self.H, self.hd)
        return pkv.permute([2, 0, 3, 1, 4]).split(2)


class LiLiangPrefixEmb(nn.Module):
    """Li & Liang's PrefixEmbTuning (`parametrize_emb="MLP"`): its MLP makes P input embeddings (P, n_embd), which
    upstream feeds through GPT-2 (`inputs_embeds`) to get the cache; it holds no keys and values itself."""

    def __init__(self, n_embd: int, preseqlen: int, mid_dim: int = 24):
        super().__init__()
        self.input_tokens = torch.arange(preseqlen).long()
        self.wte = nn.Embedding(preseqlen, n_embd)
        self.control_trans = nn.Sequential(nn.Linear(n_embd, mid_dim), nn.Tanh(), nn.Linear(mid_dim, n_embd))


class LiLiangBartPrefix(nn.Module):
    """Li & Liang's seq2seq PrefixTuning for BART: the decoder's self-attention prefix (`wte`, `control_trans`), the
    encoder's (`wte_enc`, `control_trans_enc`) and cross-attention's (`wte2`, `control_trans2`), each (P, 2·L·d)."""

    def __init__(self, n_layer: int, d_model: int, preseqlen: int, mid_dim: int = 24):
        super().__init__()
        for part in ("", "_enc", "2"):
            setattr(self, f"wte{part}", nn.Embedding(preseqlen, d_model))
            mlp = nn.Sequential(nn.Linear(d_model, mid_dim), nn.Tanh(), nn.Linear(mid_dim, n_layer * 2 * d_model))
            setattr(self, f"control_trans{part}", mlp)


class PrefixEncoder(nn.Module):
    """THUDM's PrefixEncoder; `kv_width` = 2·L·H_kv·hd (THUDM: L·2·hidden; ChatGLM2: by kv groups)."""

    def __init__(self, pre_seq_len: int, hidden: int, kv_width: int, projection: bool, prefix_hidden_size: int = 24):
        super().__init__()
        self.prefix_projection = projection
        if projection:
            self.embedding = nn.Embedding(pre_seq_len, hidden)
            self.trans = nn.Sequential(
                nn.Linear(hidden, prefix_hidden_size), nn.Tanh(), nn.Linear(prefix_hidden_size, kv_width)
            )
        else:
            self.embedding = nn.Embedding(pre_seq_len, kv_width)

    def forward(self, prefix: torch.Tensor) -> torch.Tensor:
        if self.prefix_projection:
            return self.trans(self.embedding(prefix))
        return self.embedding(prefix)


class PTuningV2Model(nn.Module):
    """A frozen base model with a prefix encoder beside it, as THUDM's *PrefixFor* classes hold them."""

    def __init__(self, base: nn.Module, facts: ModelFacts, pre_seq_len: int, projection: bool):
        super().__init__()
        self.base_model = base
        self.L, self.H, self.hd, self.P = facts.num_layers, facts.num_key_value_heads, facts.head_dim, pre_seq_len
        width = 2 * self.L * self.H * self.hd
        self.prefix_tokens = torch.arange(pre_seq_len).long()
        self.prefix_encoder = PrefixEncoder(pre_seq_len, facts.hidden_size, width, projection)

    @torch.no_grad()
    def get_prompt(self, bsz: int = 1) -> tuple[torch.Tensor, ...]:
        pkv = self.prefix_encoder(self.prefix_tokens.unsqueeze(0).expand(bsz, -1))
        pkv = pkv.view(bsz, self.P, self.L * 2, self.H, self.hd)
        return pkv.permute([2, 0, 3, 1, 4]).split(2)


def save_checkpoint(state: dict[str, torch.Tensor], config: dict | None, target: Path) -> Path:
    """Write `state` as `target` (.bin via torch.save, .safetensors), and `config` as config.json beside it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().clone().contiguous() for k, v in state.items()}  # safetensors refuses shared storage
    if target.suffix == ".safetensors":
        save_file(state, str(target))
    else:
        torch.save(state, target)
    if config is not None:
        (target.parent / "config.json").write_text(json.dumps(config))
    return target


@lru_cache(maxsize=8)
def hf_model(model_dir: Path) -> tuple[nn.Module, ModelFacts]:
    """A tiny saved model in fp32 eval mode, and the facts the exporter derives from it."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return model, LoadedModel(str(model_dir), model, None).facts


def upstream_kv(pkv: tuple[torch.Tensor, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Upstream's per-layer (2, 1, H, P, hd) as our (L, H, P, hd) keys and values."""
    key = np.stack([layer[0, 0].detach().numpy() for layer in pkv])
    value = np.stack([layer[1, 0].detach().numpy() for layer in pkv])
    return key, value


def assert_same_kv(prefix: Prefix, pkv: tuple[torch.Tensor, ...]) -> None:
    key, value = upstream_kv(pkv)
    assert prefix.key.shape == key.shape and prefix.value.shape == value.shape
    np.testing.assert_allclose(prefix.key, key, atol=1e-5, rtol=0)
    np.testing.assert_allclose(prefix.value, value, atol=1e-5, rtol=0)


@torch.no_grad()
def logits_after(model: nn.Module, layers: list[tuple[torch.Tensor, torch.Tensor]], ids: list[int]) -> np.ndarray:
    """Logits (T, V) of `ids` with `layers` (each (1, H_kv, P, hd)) as the initial cache; real tokens at P, P+1, …"""
    from transformers import DynamicCache

    P = layers[0][0].shape[2] if layers else 0
    input_ids = torch.tensor([ids])
    mask = torch.ones(1, P + len(ids), dtype=torch.long)
    cache = DynamicCache([(k.clone(), v.clone()) for k, v in layers])
    return model(input_ids=input_ids, attention_mask=mask, cache=cache, use_cache=True).logits[0].numpy()


def prefix_layers(prefix: Prefix) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Our prefix as cache layers: per layer (1, H_kv, P, D) keys and values."""
    return [
        (torch.from_numpy(k[None].copy()), torch.from_numpy(v[None].copy())) for k, v in zip(prefix.key, prefix.value)
    ]


def assert_same_logits(model: nn.Module, prefix: Prefix, pkv: tuple[torch.Tensor, ...], ids: list[int]) -> None:
    """Our prefix as the cache gives upstream's logits; and the prefix matters (the base model's logits differ)."""
    ours = prefix_layers(prefix)
    theirs = [(layer[0].detach(), layer[1].detach()) for layer in pkv]
    got = logits_after(model, ours, ids)
    np.testing.assert_allclose(got, logits_after(model, theirs, ids), atol=1e-4, rtol=0)
    assert np.abs(got - logits_after(model, [], ids)).max() > 1e-2, "the prefix should change the logits (setup)"
