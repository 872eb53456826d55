"""The sampling fields beyond temperature and top-p, through a real server: logit_bias, presence, frequency and
repetition penalties, min_tokens, stop_token_ids. Each greedy output is checked token by token against a reference
computed here, outside the server: numpy over the runtime's own logits along the server's tokens."""

from __future__ import annotations

import numpy as np
import pytest

from prefixdeploy.runtime.generate import GenerationConfig

PROMPT = "the quick brown fox"
N = 24


def served(server, **fields) -> dict:
    body = {"model": "qa", "prompt": PROMPT, "max_tokens": N, "temperature": 0, "return_token_ids": True} | fields
    with server.http() as http:
        response = http.post("/v1/completions", json=body)
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]


def raw_logits(bundle, prompt: list[int], tokens: list[int]) -> np.ndarray:
    """The runtime's logits (len(tokens), V) before each of `tokens`, the row forced along them."""

    def force(history, logits):
        out = np.full_like(logits, -np.inf)
        out[tokens[len(history)]] = 0.0
        return out

    config = GenerationConfig(max_new_tokens=len(tokens), ignore_eos=True, logits_processors=(force,))
    return np.stack([step.logits[0] for step in bundle.steps([prompt], ["qa"], config)])


def reference_scores(z, prompt, history, bias=None, presence=0.0, frequency=0.0, repetition=1.0) -> np.ndarray:
    """OpenAI's and vLLM's definitions, written out plainly: bias, repetition (prompt and output), frequency and
    presence (output)."""
    z = z.astype(np.float64).copy()
    for token, value in (bias or {}).items():
        z[token] += value
    for token in set(prompt) | set(history):
        z[token] = z[token] / repetition if z[token] > 0 else z[token] * repetition
    for token in set(history):
        z[token] -= frequency * history.count(token) + presence
    return z


def check_greedy_against_reference(bundle, choice, **fields):
    prompt, tokens = bundle.encode(PROMPT, prefix="qa"), choice["token_ids"]
    for t, z in enumerate(raw_logits(bundle, prompt, tokens)):
        scores = reference_scores(z, prompt, tokens[:t], **fields)
        assert tokens[t] == int(scores.argmax()), t


@pytest.mark.parametrize(
    "fields, expected",
    [
        ({"frequency_penalty": 1.5, "presence_penalty": 0.5}, {"frequency": 1.5, "presence": 0.5}),
        ({"presence_penalty": -1.0}, {"presence": -1.0}),
        ({"repetition_penalty": 1.8}, {"repetition": 1.8}),
        ({"repetition_penalty": 1.3, "frequency_penalty": 0.7}, {"repetition": 1.3, "frequency": 0.7}),
    ],
)
def test_penalties_equal_the_numpy_reference(server, reference, fields, expected):
    plain = served(server)["token_ids"]
    choice = served(server, **fields)
    assert choice["token_ids"] != plain  # the penalty changed the output (so the check below means something)
    check_greedy_against_reference(reference.bundle, choice, **expected)


def test_logit_bias_equals_the_numpy_reference(server, reference):
    plain = served(server)["token_ids"]
    bias = {plain[0]: -100.0, plain[3]: 4.0, 7: 2.5}
    choice = served(server, logit_bias={str(k): v for k, v in bias.items()})
    assert choice["token_ids"][0] != plain[0]
    check_greedy_against_reference(reference.bundle, choice, bias=bias)


def test_min_tokens_holds_back_eos_and_stop_token_ids(server, reference):
    eos = reference.bundle.manifest.eos_token_ids[0]
    eager = served(server, logit_bias={str(eos): 100})  # EOS at once without min_tokens
    assert eager["token_ids"] == [eos] and eager["finish_reason"] == "stop"
    choice = served(server, logit_bias={str(eos): 100}, min_tokens=5)
    tokens = choice["token_ids"]
    assert len(tokens) == 6 and tokens[-1] == eos and eos not in tokens[:5] and choice["finish_reason"] == "stop"
    check_greedy_against_reference(reference.bundle, {"token_ids": tokens[:5]}, bias={eos: -np.inf})
    plain = served(server)["token_ids"]
    held = served(server, stop_token_ids=[plain[0]], min_tokens=3)["token_ids"]
    assert plain[0] not in held[:3]


def test_stop_token_ids_end_the_choice_without_their_text(server, reference):
    plain = served(server, ignore_eos=True)["token_ids"]
    at = next(i for i in range(2, N) if plain[i] not in plain[:i])
    choice = served(server, stop_token_ids=[plain[at]], ignore_eos=True)
    assert choice["token_ids"] == plain[: at + 1] and choice["finish_reason"] == "stop"
    assert choice["text"] == reference.bundle.codec.decode(plain[:at])  # vLLM's rule: the stop token's text is cut
    stream = server.client().completions.create(
        model="qa",
        prompt=PROMPT,
        max_tokens=N,
        temperature=0,
        stream=True,
        extra_body={"stop_token_ids": [plain[at]], "ignore_eos": True},
    )
    assert "".join(c.choices[0].text for c in stream) == choice["text"]


def test_chat_takes_the_same_fields(server):
    out = server.client().chat.completions.create(
        model="qa",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=8,
        temperature=0,
        frequency_penalty=1.0,
        presence_penalty=0.5,
        logit_bias={"5": -100},
        extra_body={"repetition_penalty": 1.2, "min_tokens": 2, "stop_token_ids": [9]},
    )
    assert out.choices[0].finish_reason in ("stop", "length")


BAD = {
    "presence_penalty 2.5": ({"presence_penalty": 2.5}, "presence_penalty"),
    "frequency_penalty -3": ({"frequency_penalty": -3}, "frequency_penalty"),
    "repetition_penalty 0": ({"repetition_penalty": 0}, "repetition_penalty"),
    "logit_bias key not a token id": ({"logit_bias": {"abc": 1}}, "logit_bias"),
    "logit_bias value 150": ({"logit_bias": {"5": 150}}, "logit_bias"),
    "logit_bias id outside the vocabulary": ({"logit_bias": {"1000000": 1}}, "logit_bias"),
    "min_tokens above max_tokens": ({"min_tokens": 50, "max_tokens": 4}, "min_tokens"),
    "negative min_tokens": ({"min_tokens": -1}, "min_tokens"),
    "stop_token_ids outside the vocabulary": ({"stop_token_ids": [10**6]}, "stop_token_ids"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_sampling_fields_are_400_naming_the_field(server, case):
    fields, param = BAD[case]
    with server.http() as http:
        response = http.post("/v1/completions", json={"model": "qa", "prompt": "hi", "max_tokens": 4} | fields)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param, response.text


def test_min_p_samples_as_the_runtime_does_and_draws_only_likely_tokens(server, reference):
    """A seeded request with min_p (vLLM's and llama.cpp's field) draws what the runtime draws with the same seed, and
    every drawn token was at least min_p times as likely as the most likely one (at the request's temperature)."""
    temperature, min_p = 1.5, 0.3
    choice = served(server, temperature=temperature, min_p=min_p, seed=4, ignore_eos=True)
    bundle, prompt = reference.bundle, reference.bundle.encode(PROMPT, prefix="qa")
    config = GenerationConfig(max_new_tokens=N, temperature=temperature, min_p=min_p, seed=4, ignore_eos=True)
    assert choice["token_ids"] == [int(step.tokens[0]) for step in bundle.steps([prompt], ["qa"], config)]
    ratios = [
        np.exp((z[t] - z.max()) / temperature)
        for t, z in zip(choice["token_ids"], raw_logits(bundle, prompt, choice["token_ids"]))
    ]
    assert min(ratios) >= min_p
    without = served(server, temperature=temperature, seed=4, ignore_eos=True)["token_ids"]
    free = [np.exp((z[t] - z.max()) / temperature) for t, z in zip(without, raw_logits(bundle, prompt, without))]
    assert min(free) < min_p  # without it, this seed draws a token min_p drops (so the check above means something)
