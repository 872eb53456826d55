"""Fuzzing (hypothesis) through the real app over httpx's ASGI transport: request bodies of any shape and prefix files
of any bytes get a 4xx or a success, never a 500, a hang or a crash. Examples and deadlines are bounded."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server_process import app_in_process

from prefixdeploy.runtime.prefix import load_prefix, save_prefix

FUZZ = settings(max_examples=60, deadline=timedelta(seconds=5), suppress_health_check=list(HealthCheck))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 8) | st.floats(-3, 3) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)
FIELDS = (
    "model",
    "prompt",
    "messages",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "seed",
    "stop",
    "stream",
    "stream_options",
    "logprobs",
    "top_logprobs",
    "n",
    "echo",
    "suffix",
    "best_of",
    "ignore_eos",
    "role",
    "content",
    "include_usage",
    "return_token_ids",
)
field_values = {
    "model": st.sampled_from(["summ", "qa", "nope", ""]) | st.text(max_size=8),
    "prompt": st.text(max_size=30) | st.lists(st.integers(-2, 400), max_size=6) | json_values,
    "messages": st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "system", "assistant", "tool", "x"]), "content": st.text(max_size=20)}
        ),
        max_size=3,
    )
    | json_values,
}
bodies = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5), json_values, max_size=8).flatmap(
    lambda base: st.fixed_dictionaries({k: v for k, v in field_values.items()}).map(lambda extra: {**base, **extra})
) | st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)


@pytest.fixture(scope="module")
def app_client(served_bundle, runtime_dir):
    """The real app and engine in this process, on one event loop kept for the module."""
    with app_in_process(served_bundle, allow_runtime_prefixes=runtime_dir, max_tokens_limit=8) as call:
        yield call


def assert_4xx_or_success(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}


@FUZZ
@given(body=bodies, path=st.sampled_from(["/v1/completions", "/v1/chat/completions"]))
def test_any_json_body_is_4xx_or_success(app_client, body, path):
    response = app_client("POST", path, content=json.dumps(body).encode())
    assert_4xx_or_success(response)
    if response.status_code == 200 and not body.get("stream"):
        assert response.json()["choices"]


@FUZZ
@given(raw=st.binary(max_size=300))
def test_any_bytes_are_4xx(app_client, raw):
    for path in ("/v1/completions", "/v1/chat/completions", "/v1/prefixes"):
        assert_4xx_or_success(app_client("POST", path, content=raw))


def mutate(data: bytes, op: str, at: int, byte: int) -> bytes:
    i = at % max(len(data), 1)
    if op == "truncate":
        return data[:i]
    if op == "flip":
        return data[:i] + bytes([byte]) + data[i + 1 :]
    if op == "header":  # the JSON header sits in the first bytes after its 8-byte length
        j = 8 + at % 120
        return data[:j] + bytes([byte]) + data[j + 1 :]
    return data[:i] + bytes([byte]) * 8 + data[i:]


@pytest.fixture(scope="module")
def good_prefix_bytes(served_bundle, tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("fuzz") / "good.safetensors"
    save_prefix(load_prefix(served_bundle / "prefixes" / "summ.safetensors"), path)
    return path.read_bytes()


@FUZZ
@given(
    op=st.sampled_from(["truncate", "flip", "header", "insert"]),
    at=st.integers(0, 10**6),
    byte=st.integers(0, 255),
    name=st.text(max_size=10),
)
def test_the_prefix_loader_refuses_damaged_files_cleanly(
    app_client, runtime_dir, good_prefix_bytes, op, at, byte, name
):
    file: Path = runtime_dir / "fuzzed.safetensors"
    file.write_bytes(mutate(good_prefix_bytes, op, at, byte))
    response = app_client("POST", "/v1/prefixes", json={"name": name or "fz", "file": file.name})
    assert_4xx_or_success(response)
    if response.status_code == 200:  # an undamaging mutation (e.g. inside a float): it serves, then unloads
        assert app_client("DELETE", f"/v1/prefixes/{response.json()['id']}").status_code == 200
