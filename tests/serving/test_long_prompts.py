"""Prompts far beyond the context (issue 20, item 2): refused before tokenizing by a character bound derived from the
context, and never stalling the event loop: /health stays fast while one client sends 2 MB prompts back to back."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pytest
from server_process import KEY, running_server

from prefixdeploy.runtime.bundle import load_bundle

FOX = "fox " * 520000  # 2.08 MB: tokenizing it whole took ~1-2 s of the event loop (the tokenizer held the GIL)
HEALTH_P99 = 0.050  # seconds: the target


def flood(url: str, body: bytes, done: threading.Event, statuses: list[int]) -> None:
    """Send `body` back to back until `done` is set (at most 10,000 requests or 60 s: a fast server refused 1,000
    before the 300 health checks, ~3.5 s, were taken)."""
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    deadline = time.monotonic() + 60
    with httpx.Client(base_url=url, headers=headers, timeout=60) as http:
        for _ in range(10_000):
            if done.is_set() or time.monotonic() > deadline:
                break
            statuses.append(http.post("/v1/completions", content=body).status_code)
    done.set()


def health_latencies(url: str, done: threading.Event, samples: int) -> list[float]:
    """/health round trips, one every 10 ms, until `samples` are taken or `done` is set."""
    latencies: list[float] = []
    with httpx.Client(base_url=url, timeout=60) as http:
        while len(latencies) < samples and not done.is_set():
            started = time.perf_counter()
            assert http.get("/health").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.01)
    return latencies


def test_health_stays_fast_while_a_client_sends_2mb_prompts_back_to_back(served_bundle):
    body = json.dumps({"model": "summ", "prompt": FOX, "max_tokens": 4}).encode()
    with running_server(served_bundle) as server:
        done, statuses = threading.Event(), []
        sender = threading.Thread(target=flood, args=(server.url, body, done, statuses), daemon=True)
        sender.start()
        try:
            latencies = health_latencies(server.url, done, samples=300)
        finally:
            done.set()
            sender.join(60)
    assert len(statuses) >= 3 and set(statuses) == {400}, statuses
    assert len(latencies) == 300, f"only {len(latencies)} health checks while the prompts were sent"
    p99 = float(np.percentile(latencies, 99))
    assert p99 <= HEALTH_P99, f"/health p99 {p99 * 1000:.0f} ms over {len(latencies)} checks"


@pytest.fixture(scope="module")
def max_chars(served_bundle) -> int:
    """The character bound the server derives: its slot length × the most characters one token stands for."""
    bundle = load_bundle(served_bundle)
    try:
        return min(bundle.manifest.max_context, 4096) * bundle.codec.max_token_chars
    finally:
        bundle.close()


def test_a_text_longer_than_the_bound_is_refused_naming_the_bound(server, max_chars):
    with server.http() as http:
        for body in (
            {"model": "summ", "prompt": "x" * (max_chars + 1)},
            {"model": "summ", "prompt": ["hi", "x" * (max_chars + 1)]},
        ):
            error = http.post("/v1/completions", json=body).json()["error"]
            assert (error["code"], error["param"]) == ("context_length_exceeded", "prompt")
            assert f"{max_chars} characters" in error["message"]
        messages = [{"role": "user", "content": "x" * (max_chars // 2 + 1)}] * 2  # together over the bound
        error = http.post("/v1/chat/completions", json={"model": "summ", "messages": messages}).json()["error"]
        assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")


def test_a_text_within_the_bound_that_does_not_fit_is_refused_after_tokenizing(server, max_chars):
    with server.http() as http:
        error = http.post("/v1/completions", json={"model": "summ", "prompt": "fox " * 100}).json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "prompt")
    assert "characters" not in error["message"] and "tokens" in error["message"]


def test_a_token_list_longer_than_the_context_is_refused_before_its_ids_are_checked(server):
    with server.http() as http:
        ids = [10**9] * 150_000  # out of the vocabulary too: the length is what the error names
        error = http.post("/v1/completions", json={"model": "summ", "prompt": ids}).json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "prompt")
    assert "150000 tokens" in error["message"]


def test_out_of_vocabulary_ids_are_named(server):
    with server.http() as http:
        error = http.post("/v1/completions", json={"model": "summ", "prompt": [5, 7, 10**6]}).json()["error"]
    assert error["param"] == "prompt" and "1000000" in error["message"]
