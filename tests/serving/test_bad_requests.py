"""A catalogue of bad requests: each gets its documented status and an OpenAI error envelope, and the server keeps
serving afterwards (no 500, no traceback, no hang)."""

from __future__ import annotations

import json

import pytest
from server_process import KEY

OK = {"model": "summ", "prompt": "hello", "max_tokens": 4}
CHAT = {"model": "summ", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}


def completions(**changes):
    return ("POST", "/v1/completions", json.dumps(OK | changes).encode(), {})


def chat(**changes):
    return ("POST", "/v1/chat/completions", json.dumps(CHAT | changes).encode(), {})


def raw(body: bytes, path: str = "/v1/completions", headers: dict | None = None):
    return ("POST", path, body, headers or {})


CASES = {
    "malformed JSON": (raw(b'{"model": "summ", "prompt": '), 400, None),
    "body is not an object": (raw(b"[1, 2, 3]"), 400, None),
    "max_tokens of the wrong type": (completions(max_tokens="16"), 400, "max_tokens"),
    "prompt of the wrong type": (completions(prompt=5), 400, "prompt"),
    "negative max_tokens": (completions(max_tokens=-1), 400, "max_tokens"),
    "huge max_tokens": (completions(max_tokens=10**9), 400, "max_tokens"),
    "prompt beyond the context": (completions(prompt=[5] * 200), 400, "prompt"),
    "empty prompt": (completions(prompt=""), 400, "prompt"),
    "empty prompt list": (completions(prompt=[]), 400, "prompt"),
    "1 MB prompt": (completions(prompt="fox " * 262144), 400, "prompt"),
    "invalid UTF-8": (raw(b'{"model": "summ", "prompt": "\xff\xfe"}'), 400, None),
    "n: 0": (completions(n=0), 400, "n"),
    "n above the engine's rows": (completions(n=9), 400, "n"),  # the test server runs --max-num-seqs 8
    "n: 2 greedy (vLLM refuses it)": (completions(n=2, temperature=0), 400, "n"),
    "chat n: 2 greedy": (chat(n=2, temperature=0), 400, "n"),
    "chat n above the engine's rows": (chat(n=9), 400, "n"),
    "zero max_tokens without echo": (completions(max_tokens=0), 400, "max_tokens"),
    "suffix": (completions(suffix="tail"), 400, "suffix"),
    "best_of: 3": (completions(best_of=3), 400, "best_of"),
    "best_of other than n": (completions(n=2, best_of=3), 400, "best_of"),
    "unknown model": (completions(model="nope"), 404, "model"),
    "no key": (("POST", "/v1/completions", json.dumps(OK).encode(), {"Authorization": ""}), 401, None),
    "wrong key": (("POST", "/v1/completions", json.dumps(OK).encode(), {"Authorization": "Bearer nope"}), 401, None),
    "body over the limit": (raw(b'{"prompt": "' + b"x" * (3 * 1024 * 1024) + b'"}'), 413, None),
    "5 stop strings": (completions(stop=["a", "b", "c", "d", "e"]), 400, "stop"),
    "temperature -1": (completions(temperature=-1), 400, "temperature"),
    "top_p 0": (completions(top_p=0), 400, "top_p"),
    "min_p above 1": (completions(min_p=1.5), 400, "min_p"),
    "negative min_p": (chat(min_p=-0.1), 400, "min_p"),
    "logprobs 100": (completions(logprobs=100), 400, "logprobs"),
    "token id outside the vocabulary": (completions(prompt=[1, 10**6]), 400, "prompt"),
    "NaN temperature": (raw(b'{"model": "summ", "prompt": "x", "temperature": NaN}'), 400, None),
    "negative seed": (completions(seed=-3), 400, "seed"),
    "stream_options without stream": (completions(stream_options={"include_usage": True}), 400, "stream_options"),
    "presence_penalty 3": (completions(presence_penalty=3), 400, "presence_penalty"),
    "empty cache_salt (vLLM refuses it)": (completions(cache_salt=""), 400, "cache_salt"),
    "cache_salt of the wrong type": (chat(cache_salt=7), 400, "cache_salt"),
    "cache_salt of 257 characters": (completions(cache_salt="s" * 257), 400, "cache_salt"),
    "chat without messages": (chat(messages=[]), 400, "messages"),
    "chat with an unknown role": (chat(messages=[{"role": "wizard", "content": "hi"}]), 400, "messages"),
    "chat with an image part": (
        chat(messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]),
        400,
        "messages",
    ),
    "chat top_logprobs without logprobs": (chat(top_logprobs=2), 400, "top_logprobs"),
    "chat top_logprobs 6": (chat(logprobs=True, top_logprobs=6), 400, "top_logprobs"),
    "chat prompt beyond the context": (chat(messages=[{"role": "user", "content": "fox " * 300}]), 400, "messages"),
    "path traversal in a prefix file": (
        ("POST", "/v1/prefixes", json.dumps({"name": "evil", "file": "../../etc/passwd"}).encode(), {}),
        400,
        "file",
    ),
    "absolute prefix file": (
        ("POST", "/v1/prefixes", json.dumps({"name": "evil", "file": "/etc/passwd"}).encode(), {}),
        400,
        "file",
    ),
    "prefix name that is a path": (
        ("POST", "/v1/prefixes", json.dumps({"name": "../x", "file": "a.safetensors"}).encode(), {}),
        400,
        "name",
    ),
    "unloading a bundle prefix": (("DELETE", "/v1/prefixes/summ", b"", {}), 400, "name"),
    "unloading an unknown prefix": (("DELETE", "/v1/prefixes/nope", b"", {}), 404, "name"),
    "unknown route": (("POST", "/v1/embeddings", b"{}", {}), 404, None),
    "wrong method": (("GET", "/v1/completions", b"", {}), 405, None),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_request_gets_its_status_and_an_envelope(server, case):
    (method, path, body, headers), status, param = CASES[case]
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"} | headers
    headers = {k: v for k, v in headers.items() if v}
    with server.http(auth=False) as http:
        response = http.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in response.text
    if param is not None:
        assert error["param"] == param, error
    if case.endswith("beyond the context"):
        assert error["code"] == "context_length_exceeded"


def test_the_server_keeps_serving_after_the_catalogue(server):
    assert len(CASES) >= 20
    out = server.client().completions.create(model="summ", prompt="hello", max_tokens=3)
    assert out.choices[0].finish_reason in ("stop", "length")
    assert server.metric("prefixdeploy_request_rejected_total") >= len(CASES) - 2  # route errors are counted too
