"""The reference itself: PEFT's forward() with a prefix equals the frozen model with the prefix as its cache.

Also checks PEFT's own generate() against the forward() loop: with peft 0.21 + transformers 5.x it silently dropped
the prefix (transformers handed the model its cache under `cache`, PEFT injected `past_key_values`); peft 0.22 fixed
it, and a regression shows here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import peft_greedy, peft_model

from prefixdeploy.exporter.reference import reference_greedy
from prefixdeploy.importers import load_prefix_source
from prefixdeploy.models.load import LoadedModel

PROMPT = [5, 17, 42, 8, 99]


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_prefix_as_initial_cache_equals_peft_forward(kind, tiny_model_dir, peft_adapter):
    model_dir, adapter = tiny_model_dir(kind), peft_adapter(kind, 5)
    base = peft_model(model_dir, None)
    prefix = load_prefix_source(adapter, LoadedModel("tiny", base, None).facts, "task")
    tokens, logits = reference_greedy(base, prefix, PROMPT, 16)
    peft_tokens, peft_logits = peft_greedy(model_dir, adapter, PROMPT, 16)
    assert tokens == peft_tokens
    # incremental (cached) vs full recomputation: fp32 rounding only
    np.testing.assert_allclose(logits, peft_logits, atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("projection", [False, True])
def test_peft_generate_equals_the_forward_reference(kind, projection, tiny_model_dir, peft_adapter):
    """PeftModel.generate() (peft >= 0.22; 0.21 dropped the prefix) picks the same tokens as the forward() loop."""
    model_dir, adapter = tiny_model_dir(kind), peft_adapter(kind, 5, projection)
    model, ids = peft_model(model_dir, adapter), torch.tensor([PROMPT])
    kwargs = dict(attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    with torch.no_grad():
        out = model.generate(input_ids=ids, eos_token_id=None, **kwargs)  # the reference loop ignores EOS
    forward_tokens, _ = peft_greedy(model_dir, adapter, PROMPT, 12)
    assert forward_tokens != peft_greedy(model_dir, None, PROMPT, 12)[0], "the adapter should change the output"
    assert out[0, len(PROMPT) :].tolist() == forward_tokens
