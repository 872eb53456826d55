"""The scheduler's prefill policy, step by step on a real ONNX Runtime session: whole prompts while no row decodes,
one even chunk per step while rows do. The outputs themselves are checked against single requests in test_engine."""

from __future__ import annotations

import pytest

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.serving.requests import Request, SamplingParams
from prefixdeploy.serving.scheduler import IDLE_PREFILL_TOKENS, Scheduler
from prefixdeploy.serving.slots import SlotCache

CHUNK = 7


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        yield b


def scheduler(bundle, slots: int = 4, idle: int = IDLE_PREFILL_TOKENS) -> Scheduler:
    manifest = bundle.manifest
    cache = SlotCache(bundle.backend, manifest, slots, 128)
    return Scheduler(cache, slots, CHUNK, manifest.eos_token_ids, idle_prefill_tokens=idle)


def request(bundle, length: int, max_tokens: int = 20) -> Request:
    ids = [(7 * i + 3) % bundle.manifest.vocab_size for i in range(length)]
    return Request(
        ids,
        next(iter(bundle.prefixes.values())),
        SamplingParams(max_tokens=max_tokens, ignore_eos=True),
        lambda e: None,
    )


def feeder(requests: list[Request]):
    return lambda: requests.pop(0) if requests else None


def test_a_burst_on_an_idle_engine_starts_one_row_whole_and_chunks_the_rest(bundle):
    s = scheduler(bundle)
    waiting = [request(bundle, n) for n in (15, 9, 20)]
    steps = [s.step(feeder(waiting)) for _ in range(6)]
    # the first prompt whole; then, while it decodes, 7-token chunks: 9 as 5 + 4, 20 as 7 + 7 + 6
    assert [(t.prefill_tokens, t.stalled, t.rows) for t in steps] == [
        (15, 0, 1),
        (5, 1, 1),
        (4, 1, 2),
        (7, 2, 2),
        (7, 2, 2),
        (6, 2, 3),
    ]


def test_while_rows_decode_a_prompt_goes_in_even_chunks_one_per_step(bundle):
    s = scheduler(bundle)
    s.step(feeder([request(bundle, 4)]))  # one row decoding from now on
    waiting = [request(bundle, 15)]
    chunks = [s.step(feeder(waiting)) for _ in range(4)]
    assert [(c.prefill_tokens, c.stalled) for c in chunks] == [(5, 1), (5, 1), (5, 1), (0, 0)]  # not 7 + 7 + 1
    assert [c.rows for c in chunks] == [1, 1, 2, 2]  # it joins the decoding rows the step its prompt is in


def test_the_idle_budget_bounds_one_step(bundle):
    s = scheduler(bundle, idle=30)
    waiting = [request(bundle, 40), request(bundle, 5)]
    steps = [s.step(feeder(waiting)) for _ in range(3)]
    # 40 tokens over a budget of 30 go as 20 + 20 (no row decodes yet); then the next prompt waits for a 7-token chunk
    assert [(t.prefill_tokens, t.stalled, t.rows) for t in steps] == [(20, 0, 0), (20, 0, 1), (5, 1, 2)]
