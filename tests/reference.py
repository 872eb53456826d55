"""The test reference: PEFT's own forward() with the adapter, in a manual greedy loop (full recompute each step).

Not PEFT's generate(): with peft 0.21 + transformers 5.x it silently dropped the prefix. peft 0.22 fixed that, and
tests/exporter/test_peft_reference.py checks generate() against this loop.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch


@lru_cache(maxsize=16)
def peft_model(model_dir: Path, adapter_dir: Path | None):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    return base if adapter_dir is None else PeftModel.from_pretrained(base, adapter_dir).eval()


@torch.no_grad()
def peft_greedy(model_dir: Path, adapter_dir: Path | None, prompt_ids: list[int], steps: int):
    """Greedy tokens (EOS ignored) and the logits each was picked from, (steps, V), via forward() only."""
    model = peft_model(model_dir, adapter_dir)
    seq = torch.tensor([prompt_ids])
    tokens, logits = [], []
    for _ in range(steps):
        last = model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits[0, -1].float()
        logits.append(last.numpy())
        tokens.append(int(last.argmax()))
        seq = torch.cat([seq, torch.tensor([[tokens[-1]]])], dim=1)
    return tokens, np.stack(logits)
