"""The OpenAI API of a real server, driven by the `openai` package and httpx: models, completions, chat, streaming,
stop strings, logprobs, seeds, usage, metrics. Greedy outputs equal `prefixdeploy run`'s (in-process references)."""

from __future__ import annotations

import json

import pytest

from prefixdeploy.runtime.generate import GenerationConfig

PROMPT = "the quick brown fox"
GREEDY_8 = GenerationConfig(max_new_tokens=8, temperature=0.0)


def base_id(server) -> str:
    return next(m.id for m in server.client().models.list().data if m.parent is None)


def token_ids(choice) -> list[int]:
    return choice.model_extra["token_ids"]


def test_health_needs_no_key_and_models_list_base_and_prefixes(server):
    with server.http(auth=False) as http:
        assert http.get("/health").json() == {"status": "ok"}
        assert http.get("/v1/models").status_code == 401
    models = {m.id: m for m in server.client().models.list().data}
    base = base_id(server)
    assert {"summ", "qa", base} <= set(models)
    assert models["summ"].parent == models["qa"].parent == base
    assert models[base].parent is None


@pytest.mark.parametrize("model", ["summ", "qa", None])
def test_greedy_completion_equals_run(server, reference, model):
    model = model or base_id(server)
    prefix = None if model == base_id(server) else model
    out = server.client().completions.create(
        model=model, prompt=PROMPT, max_tokens=12, temperature=0, extra_body={"return_token_ids": True}
    )
    choice = out.choices[0]
    want = reference(reference.bundle.encode(PROMPT), prefix, 12)
    assert token_ids(choice) == want
    assert choice.text == reference.bundle.codec.decode(want)
    assert out.model == model
    assert out.usage.prompt_tokens == len(reference.bundle.encode(PROMPT))  # real tokens only, no prefix
    assert out.usage.completion_tokens == len(want)
    assert choice.finish_reason == ("stop" if len(want) < 12 else "length")


def test_streamed_text_equals_the_whole_response_and_ends_with_usage_and_done(server):
    client = server.client()
    args = dict(model="summ", prompt=PROMPT, max_tokens=24, temperature=0)
    whole = client.completions.create(**args)
    with (
        server.http() as http,
        http.stream(
            "POST", "/v1/completions", json=args | {"stream": True, "stream_options": {"include_usage": True}}
        ) as response,
    ):
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in events[:-1]]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == whole.usage.model_dump(exclude_none=True)
    assert "".join(c["choices"][0]["text"] for c in chunks[:-1]) == whole.choices[0].text
    assert chunks[-2]["choices"][0]["finish_reason"] == whole.choices[0].finish_reason


def test_chat_single_message_equals_run_chat_and_streams_the_same(server, reference):
    client = server.client()
    messages = [{"role": "user", "content": "hello there"}]
    out = client.chat.completions.create(model="qa", messages=messages, max_tokens=10, temperature=0)
    want = reference(reference.bundle.encode("hello there", chat=True), "qa", 10)
    assert out.choices[0].message.content == reference.bundle.codec.decode(want)
    assert out.choices[0].message.role == "assistant"
    stream = client.chat.completions.create(model="qa", messages=messages, max_tokens=10, temperature=0, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == out.choices[0].message.content


def test_chat_conversation_renders_the_models_template(server, reference, tiny_model_dir):
    from transformers import AutoTokenizer

    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "the fox?"},
    ]
    hf = AutoTokenizer.from_pretrained(tiny_model_dir("llama"))
    text = hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    prompt = reference.bundle.codec.tokenizer.encode(text, add_special_tokens=False).ids
    out = server.client().chat.completions.create(
        model="summ", messages=messages, max_tokens=8, temperature=0, extra_body={"return_token_ids": True}
    )
    assert out.choices[0].model_extra["prompt_token_ids"] == prompt
    assert token_ids(out.choices[0]) == reference(prompt, "summ", 8)


def test_stop_string_is_cut_and_never_streamed(server, reference):
    want = reference.bundle.codec.decode(reference(reference.bundle.encode(PROMPT), "summ", 24))
    stop = want[5:8]
    assert stop and want.find(stop) == 5, want
    client = server.client()
    out = client.completions.create(model="summ", prompt=PROMPT, max_tokens=24, temperature=0, stop=[stop, "zzzz"])
    assert out.choices[0].text == want[:5]
    assert out.choices[0].finish_reason == "stop"
    stream = client.completions.create(
        model="summ", prompt=PROMPT, max_tokens=24, temperature=0, stop=stop, stream=True
    )
    assert "".join(c.choices[0].text for c in stream) == want[:5]


def test_logprobs_completions_and_chat(server):
    client = server.client()
    out = client.completions.create(model="summ", prompt=PROMPT, max_tokens=6, temperature=0, logprobs=3)
    lp = out.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 6
    for top, chosen in zip(lp.top_logprobs, lp.token_logprobs):  # greedy: the chosen token is the most likely one
        assert 1 <= len(top) <= 3 and chosen >= max(top.values()) - 1e-6  # (tokens that print alike share a key)
    chat = client.chat.completions.create(
        model="qa",
        messages=[{"role": "user", "content": "hi"}],
        max_tokens=4,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
    )
    content = chat.choices[0].logprobs.content
    assert len(content) == 4 and all(len(c.top_logprobs) == 2 and c.logprob <= 0 for c in content)


def test_same_seed_same_sample_and_default_temperature_samples(server):
    client = server.client()
    runs = [
        client.completions.create(
            model="qa", prompt=PROMPT, max_tokens=16, seed=7, extra_body={"return_token_ids": True}
        )
        for _ in range(2)
    ]
    assert token_ids(runs[0].choices[0]) == token_ids(runs[1].choices[0])
    others = {
        tuple(
            token_ids(
                client.completions.create(
                    model="qa", prompt=PROMPT, max_tokens=16, seed=s, extra_body={"return_token_ids": True}
                ).choices[0]
            )
        )
        for s in range(4)
    }
    assert len(others) > 1  # temperature defaults to 1.0 (OpenAI's default): seeds differ


def test_several_prompts_and_token_id_prompts(server, reference):
    ids = reference.bundle.encode(PROMPT)
    out = server.client().completions.create(
        model="summ", prompt=[PROMPT, "hello"], max_tokens=6, temperature=0, extra_body={"return_token_ids": True}
    )
    assert [c.index for c in out.choices] == [0, 1]
    assert token_ids(out.choices[0]) == reference(ids, "summ", 6)
    assert token_ids(out.choices[1]) == reference(reference.bundle.encode("hello"), "summ", 6)
    by_ids = server.client().completions.create(model="summ", prompt=ids, max_tokens=6, temperature=0)
    assert by_ids.choices[0].text == out.choices[0].text
    assert out.usage.prompt_tokens == len(ids) + len(reference.bundle.encode("hello"))


def test_metrics_count_tokens_and_requests(server):
    before = server.metric("prefixdeploy_generation_tokens_total")
    server.client().completions.create(
        model="qa", prompt=PROMPT, max_tokens=5, temperature=0, extra_body={"ignore_eos": True}
    )
    assert server.metric("prefixdeploy_generation_tokens_total") == before + 5
    with server.http() as http:
        text = http.get("/metrics").text
    for series in (
        "requests_running",
        "requests_waiting",
        "prefixes_loaded",
        "prompt_tokens_total",
        "request_success_total",
        "time_to_first_token_seconds_bucket",
        "inter_token_latency_seconds",
        "e2e_request_latency_seconds",
        "rows_per_step_bucket",
    ):
        assert f"prefixdeploy_{series}" in text, series
    assert server.metric("prefixdeploy_prefixes_loaded") == 2


@pytest.mark.parametrize("chat_system", [False, True])
def test_a_prefix_made_from_text_loads_at_runtime_and_equals_run(server, reference, runtime_dir, chat_system):
    from prefixdeploy.runtime.prefix import save_prefix
    from prefixdeploy.runtime.text_prefix import prefix_from_text

    bundle = reference.bundle
    if chat_system and bundle.manifest.chat_system is None:
        pytest.skip("the tiny model's chat template has no separable system turn")
    name = f"text-{int(chat_system)}"
    prefix = prefix_from_text(bundle, "You answer in one word.", name=name, chat_system=chat_system)
    save_prefix(prefix, runtime_dir / f"{name}.safetensors")
    with server.http() as http:
        assert http.post("/v1/prefixes", json={"name": name, "file": f"{name}.safetensors"}).status_code == 200
    bundle.add_prefix(prefix)
    client = server.client()
    if chat_system:
        messages = [{"role": "user", "content": "the fox?"}]
        out = client.chat.completions.create(model=name, messages=messages, max_tokens=8, temperature=0)
        text = out.choices[0].message.content
    else:
        out = client.completions.create(model=name, prompt=" the fox", max_tokens=8, temperature=0)
        text = out.choices[0].text
    want = bundle.generate([" the fox" if not chat_system else "the fox?"], [name], GREEDY_8, chat=chat_system)[0]
    assert text == want.text
    assert out.usage.prompt_tokens == len(want.prompt_token_ids)  # no BOS after a text; only the user turn
