"""The PyTorch reference: the frozen HF model with the prefix as its initial cache (what PEFT's forward() does).

Real token t sits at position P + t: HF derives positions from the cache length, as under PEFT.
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import DynamicCache

from prefixdeploy.runtime.prefix import Prefix


def prefix_cache(prefix: Prefix | None) -> DynamicCache:
    """A DynamicCache holding `prefix`'s keys/values, each layer (1, H_kv, P, D); empty for no prefix."""
    if prefix is None:
        return DynamicCache()
    layers = [
        (torch.from_numpy(prefix.key[i][None].copy()), torch.from_numpy(prefix.value[i][None].copy()))
        for i in range(prefix.key.shape[0])
    ]
    return DynamicCache(layers)


@torch.no_grad()
def reference_greedy(model, prefix: Prefix | None, prompt_ids: list[int], steps: int) -> tuple[list[int], np.ndarray]:
    """Greedy tokens (ignoring EOS) and the logits each was picked from, (steps, V) float32."""
    cache = prefix_cache(prefix)
    P = prefix.num_virtual_tokens if prefix else 0
    ids = torch.tensor([prompt_ids])
    tokens, logits = [], []
    for _ in range(steps):
        mask = torch.ones(1, P + len(prompt_ids) + len(tokens), dtype=torch.long)
        out = model(input_ids=ids, cache=cache, attention_mask=mask, use_cache=True)
        last = out.logits[0, -1].float()
        logits.append(last.numpy())
        tokens.append(int(last.argmax()))
        ids = torch.tensor([[tokens[-1]]])
    return tokens, np.stack(logits)


@torch.no_grad()
def reference_logprobs(model, prefix: Prefix | None, ids: list[int]) -> np.ndarray:
    """Log-probabilities of ids[1:] given what precedes them (and the prefix), (len(ids) − 1,) float64."""
    P = prefix.num_virtual_tokens if prefix else 0
    mask = torch.ones(1, P + len(ids), dtype=torch.long)
    logits = model(input_ids=torch.tensor([ids]), cache=prefix_cache(prefix), attention_mask=mask).logits[0, :-1]
    logp = torch.log_softmax(logits.double(), dim=-1)
    return logp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].numpy()
