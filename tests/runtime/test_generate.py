"""The generation loop: greedy, sampling with a seed, EOS handling, streaming, chat, context limits."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from reference import peft_model

from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.sampling import sample_next


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        yield b


def test_sampling_is_reproducible_with_a_seed_and_varies_without(bundle):
    config = GenerationConfig(max_new_tokens=16, temperature=1.0, seed=7, ignore_eos=True)
    a = bundle.generate(["hello"], ["summ"], config)[0].token_ids
    b = bundle.generate(["hello"], ["summ"], config)[0].token_ids
    c = bundle.generate(["hello"], ["summ"], dataclasses.replace(config, seed=8))[0].token_ids
    assert a == b and a != c


def test_top_k_1_and_tiny_top_p_are_greedy(bundle):
    greedy = bundle.generate(["hello"], ["qa"], GenerationConfig(max_new_tokens=12, ignore_eos=True))[0].token_ids
    for kwargs in ({"top_k": 1}, {"top_p": 1e-6}):
        config = GenerationConfig(max_new_tokens=12, ignore_eos=True, temperature=1.5, seed=3, **kwargs)
        assert bundle.generate(["hello"], ["qa"], config)[0].token_ids == greedy


def test_sample_next_respects_top_k_and_top_p():
    rng = np.random.default_rng(0)
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], np.float32)).repeat(2000, axis=0)
    top2 = sample_next(logits, rng, temperature=1.0, top_k=2)
    assert set(top2.tolist()) == {0, 1}
    nucleus = sample_next(logits, rng, temperature=1.0, top_p=0.8)  # 0.5 + 0.3 reach 0.8
    assert set(nucleus.tolist()) == {0, 1}
    full = sample_next(logits, rng, temperature=1.0)
    assert set(full.tolist()) == {0, 1, 2, 3}
    assert abs((full == 0).mean() - 0.5) < 0.05


def test_eos_stops_a_row_and_is_kept_unless_ignored(bundle):
    config = GenerationConfig(max_new_tokens=10, ignore_eos=True)
    tokens = bundle.generate(["hello"], ["summ"], config)[0].token_ids
    eos = tokens[3]  # pretend the 4th greedy token is EOS
    original = bundle.manifest
    bundle.manifest = dataclasses.replace(original, eos_token_ids=[eos])
    try:
        stopped = bundle.generate(["hello"], ["summ"], GenerationConfig(max_new_tokens=10))[0].token_ids
        ignored = bundle.generate(["hello"], ["summ"], config)[0].token_ids
    finally:
        bundle.manifest = original
    assert stopped == tokens[: tokens.index(eos) + 1]
    assert ignored == tokens and len(ignored) == 10


def test_stream_yields_the_generated_tokens(bundle):
    config = GenerationConfig(max_new_tokens=12, ignore_eos=True)
    assert list(bundle.stream("hello", "qa", config)) == bundle.generate(["hello"], ["qa"], config)[0].token_ids


def test_tokenizer_and_chat_template_match_transformers(bundle, tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir("llama"))
    text = "Once upon a time, hello world!"
    assert bundle.encode(text) == tok(text).input_ids
    chat = tok.apply_chat_template([{"role": "user", "content": text}], tokenize=True, add_generation_prompt=True)
    chat = chat["input_ids"] if hasattr(chat, "keys") else chat
    assert bundle.encode(text, chat=True) == list(chat)


def test_context_limit_counts_prefix_prompt_and_new_tokens(bundle):
    prompt = [5] * 100
    bundle.generate_ids([prompt], [None], GenerationConfig(max_new_tokens=28))  # 0 + 100 + 28 = 128 fits
    with pytest.raises(ContextLengthError, match=r"prefix 5 \+ prompt 100 \+ max new tokens 28 = 133 .* 128"):
        bundle.generate_ids([prompt], ["summ"], GenerationConfig(max_new_tokens=28))


def test_no_prefix_row_equals_the_base_model(bundle, tiny_model_dir):
    import torch

    ids = bundle.encode("the quick brown fox")
    step = next(bundle.steps([ids], [None], GenerationConfig(max_new_tokens=1)))
    with torch.no_grad():
        ref = peft_model(tiny_model_dir("llama"), None)(input_ids=torch.tensor([ids])).logits[0, -1].numpy()
    np.testing.assert_allclose(step.logits[0], ref, atol=1e-4, rtol=0)


def test_baked_bundle_refuses_to_drop_its_prefix(tiny_bundle):
    with load_bundle(tiny_bundle("baked")) as baked:
        assert baked.resolve(None).name == "summ"
        with pytest.raises(PrefixDeployError, match="unknown prefix 'qa'"):
            baked.resolve("qa")


def test_add_prefix_to_a_loaded_switchable_bundle(bundle):
    qa = bundle.prefixes["qa"]
    bundle.add_prefix(qa.renamed("qa2"))
    config = GenerationConfig(max_new_tokens=8, ignore_eos=True)
    assert bundle.generate(["hi"], ["qa2"], config)[0].token_ids == bundle.generate(["hi"], ["qa"], config)[0].token_ids


@pytest.mark.parametrize("graph", ["model.ort.fp32.onnx", "model.onnx"])
def test_teacher_forcing_scores_what_generation_chose(tiny_bundle, graph):
    """score() over prompt + greedy output: its greedy choices are that output, its log-probs the steps' own."""
    with load_bundle(tiny_bundle("switchable"), graph=graph) as b:
        ids = b.encode("the cat sat on the")
        steps = list(b.steps([ids], ["qa"], GenerationConfig(max_new_tokens=8, ignore_eos=True)))
        new = [int(s.tokens[0]) for s in steps]
        scores = b.score(ids + new, "qa")
    assert scores.argmax[len(ids) - 1 :].tolist() == new
    logp = [s.logits[0][t] - np.logaddexp.reduce(s.logits[0].astype(np.float64)) for s, t in zip(steps, new)]
    np.testing.assert_allclose(scores.logprobs[len(ids) - 1 :], logp, atol=1e-5)


def test_scoring_one_token_is_a_user_error(bundle):
    with pytest.raises(PrefixDeployError, match="scoring needs at least 2 tokens"):
        bundle.score(bundle.encode("the")[:1], "qa")
