"""`n` choices and `echo` (with prompt logprobs) through a real server, driven by the `openai` package.

Each seeded choice i equals `prefixdeploy run --seed S+i` token for token (vLLM's per-choice seeds); echoed prompt
logprobs equal the runtime's teacher-forced scores (`Bundle.score`); streamed choices carry their own `index` and
join to the whole response's text. The refusals (n < 1, n above the rows, n > 1 greedy, best_of ≠ n) are in
test_bad_requests.py's catalogue; one is checked here through the client too.
"""

from __future__ import annotations

import numpy as np
import openai
import pytest

from prefixdeploy.runtime.generate import GenerationConfig

PROMPT = "the quick brown fox"
SAMPLED = {"temperature": 0.9, "seed": 41}
EXTRA = {"return_token_ids": True, "ignore_eos": True}


def token_ids(choice) -> list[int]:
    return choice.model_extra["token_ids"]


def run_with_seed(bundle, ids: list[int], prefix: str | None, max_tokens: int, seed: int) -> list[int]:
    """What `prefixdeploy run --temperature 0.9 --seed SEED --ignore-eos` returns for these prompt ids."""
    config = GenerationConfig(max_new_tokens=max_tokens, temperature=SAMPLED["temperature"], seed=seed, ignore_eos=True)
    return bundle.generate_ids([ids], [prefix], config)[0]


def by_index(chunks, text) -> dict[int, str]:
    """A stream's text per choice index, and each index's finish reasons (exactly one expected)."""
    texts, reasons = {}, {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (text(choice) or "")
            if choice.finish_reason is not None:
                reasons.setdefault(choice.index, []).append(choice.finish_reason)
    assert all(len(r) == 1 for r in reasons.values()) and set(reasons) == set(texts)
    return texts


def test_completions_choice_i_equals_run_with_seed_plus_i_and_usage_counts_every_choice(server, reference):
    bundle, n = reference.bundle, 3
    out = server.client().completions.create(
        model="qa", prompt=[PROMPT, "hello"], max_tokens=10, n=n, extra_body=EXTRA, **SAMPLED
    )
    assert [c.index for c in out.choices] == list(range(2 * n))  # prompt-major: prompt p's choice i is p·n + i
    for p, text in enumerate([PROMPT, "hello"]):
        ids = bundle.encode(text, prefix="qa")
        for i in range(n):
            choice = out.choices[p * n + i]
            assert choice.model_extra["prompt_token_ids"] == ids
            assert token_ids(choice) == run_with_seed(bundle, ids, "qa", 10, SAMPLED["seed"] + i), (p, i)
            assert choice.text == bundle.codec.decode(token_ids(choice))
    assert len({tuple(token_ids(c)) for c in out.choices[:n]}) > 1  # the choices differ
    assert out.usage.prompt_tokens == len(bundle.encode(PROMPT)) + len(bundle.encode("hello"))  # once per prompt
    assert out.usage.completion_tokens == 2 * n * 10


def test_streamed_completion_choices_carry_their_index_and_join_to_the_whole_response(server):
    client = server.client()
    args = dict(model="summ", prompt=PROMPT, max_tokens=12, n=3, extra_body=EXTRA, **SAMPLED)
    whole = client.completions.create(**args)
    chunks = list(client.completions.create(**args, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].usage.model_dump(exclude_none=True) == whole.usage.model_dump(exclude_none=True)
    texts = by_index(chunks[:-1], lambda c: c.text)
    assert texts == {c.index: c.text for c in whole.choices}


def test_chat_n_choices_equal_run_with_seed_plus_i_streamed_or_not(server, reference):
    client, n = server.client(), 2
    args = dict(model="qa", messages=[{"role": "user", "content": "hello there"}], max_tokens=8, n=n, **SAMPLED)
    out = client.chat.completions.create(**args, extra_body=EXTRA)
    assert [c.index for c in out.choices] == list(range(n))
    for i, choice in enumerate(out.choices):
        ids = choice.model_extra["prompt_token_ids"]
        assert token_ids(choice) == run_with_seed(reference.bundle, ids, "qa", 8, SAMPLED["seed"] + i)
        assert choice.message.content == reference.bundle.codec.decode(token_ids(choice))
    assert out.usage.completion_tokens == n * 8
    chunks = list(client.chat.completions.create(**args, extra_body={"ignore_eos": True}, stream=True))
    roles = [c.choices[0].index for c in chunks if c.choices[0].delta.role == "assistant"]
    assert sorted(roles) == list(range(n))  # each choice's message is opened once
    assert by_index(chunks, lambda c: c.delta.content) == {c.index: c.message.content for c in out.choices}


def test_echo_returns_the_prompt_then_the_output_with_the_prompt_s_scores(server, reference):
    bundle, client = reference.bundle, server.client()
    ids = bundle.encode(PROMPT, prefix="qa")
    # a whole prefill, as echo's (which scores the prompt): not from the prompt cache, whose reused positions came from
    # forwards of other shapes (the same tokens, logprobs equal to about 1e-6 only)
    uncached = {"cache_prompt": False}
    plain = client.completions.create(
        model="qa", prompt=PROMPT, max_tokens=5, temperature=0, logprobs=2, extra_body=uncached
    )
    out = client.completions.create(model="qa", prompt=PROMPT, max_tokens=5, temperature=0, logprobs=2, echo=True)
    choice, generated = out.choices[0], plain.choices[0].logprobs
    assert choice.text == PROMPT + plain.choices[0].text
    lp = choice.logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(ids) + 5
    assert lp.token_logprobs[0] is None and lp.top_logprobs[0] is None  # nothing before the first token scores it
    np.testing.assert_allclose(lp.token_logprobs[1 : len(ids)], bundle.score(ids, "qa").logprobs, atol=2e-4)
    assert all(1 <= len(top) <= 2 for top in lp.top_logprobs[1:])
    assert lp.tokens[len(ids) :] == generated.tokens and lp.token_logprobs[len(ids) :] == generated.token_logprobs
    assert lp.text_offset[: len(ids) + 1] == sorted(lp.text_offset[: len(ids) + 1])  # one running offset
    assert out.usage == plain.usage  # the echoed prompt is not completion


def test_echo_with_zero_max_tokens_scores_the_prompt_alone(server, reference):
    bundle = reference.bundle
    ids = bundle.encode("hello world", prefix="summ")
    out = server.client().completions.create(model="summ", prompt=ids, max_tokens=0, echo=True, logprobs=0)
    choice = out.choices[0]
    assert choice.text == bundle.codec.decode(ids) and choice.finish_reason == "length"  # token ids: decoded
    assert len(choice.logprobs.tokens) == len(ids) and choice.logprobs.token_logprobs[0] is None
    np.testing.assert_allclose(choice.logprobs.token_logprobs[1:], bundle.score(ids, "summ").logprobs, atol=2e-4)
    assert (out.usage.prompt_tokens, out.usage.completion_tokens) == (len(ids), 0)


def test_streamed_echo_starts_each_choice_with_its_prompt(server):
    client = server.client()
    args = dict(model="summ", prompt=[PROMPT, "hello"], max_tokens=6, n=2, echo=True, extra_body=EXTRA, **SAMPLED)
    whole = client.completions.create(**args)
    texts = by_index(client.completions.create(**args, stream=True), lambda c: c.text)
    assert texts == {c.index: c.text for c in whole.choices}
    assert [texts[i].startswith(PROMPT if i < 2 else "hello") for i in range(4)] == [True] * 4


def test_a_refusal_reaches_the_client_as_bad_request_naming_the_field(server):
    with pytest.raises(openai.BadRequestError) as e:
        server.client().completions.create(model="qa", prompt=PROMPT, max_tokens=4, n=2, temperature=0)
    assert e.value.body["param"] == "n" and "greedy" in e.value.body["message"]
    out = server.client().completions.create(model="qa", prompt=PROMPT, max_tokens=4, n=2, seed=1, best_of=2)
    assert len(out.choices) == 2  # best_of = n is the no-op it is
