"""The reference itself: PEFT's forward() with a prefix equals the frozen model with the prefix as its cache.

Also documents a known upstream bug, so we notice when it changes: with peft 0.21 + transformers 5.x,
PeftModel.generate() silently drops the prefix (transformers hands the model its cache under `cache`, PEFT injects
`past_key_values`, and the output equals the base model's).
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


def test_peft_generate_drops_the_prefix(tiny_model_dir, peft_adapter):
    """Known bug (peft 0.21.2, transformers 5.24): generate() ignores the prefix that forward() applies.

    If this test fails, upstream fixed it: PEFT's generate() may then serve as a reference again.
    """
    model_dir, adapter = tiny_model_dir("llama"), peft_adapter("llama", 5)
    with_prefix, base = peft_model(model_dir, adapter), peft_model(model_dir, None)
    ids = torch.tensor([PROMPT])
    kwargs = dict(attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False)
    with torch.no_grad():
        generated = with_prefix.generate(input_ids=ids, **kwargs)[0, len(PROMPT) :].tolist()
        plain = base.generate(input_ids=ids, **kwargs)[0, len(PROMPT) :].tolist()
    forward_tokens, _ = peft_greedy(model_dir, adapter, PROMPT, 12)
    assert forward_tokens != plain, "the adapter should change the greedy output (test setup)"
    assert generated == plain, "PeftModel.generate() now applies the prefix: the upstream bug is fixed"
