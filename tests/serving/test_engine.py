"""The serving engine on real ONNX Runtime sessions: busy batches equal single requests, slots, aborts, limits.

Each test runs its requests inside `asyncio.run`; waits are bounded and engines shut down (see engine_cases.py).
Tiny models give bit-identical logits in a batch and exact greedy tokens with chunked prefill, so equality is exact.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys

import numpy as np
import pytest
from engine_cases import GREEDY, WAIT, StepGate, collect, mixed_cases, serving, single, submit_staggered
from repo_root import ROOT
from tiny_models import FAMILIES

from prefixdeploy.errors import ContextLengthError, PrefixDeployError, PrefixMismatchError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.kv import KVSlots
from prefixdeploy.runtime.sampling import log_softmax
from prefixdeploy.serving.engine.engine import (
    Engine,
    EngineConfig,
    EngineDrainingError,
    QueueFullError,
    SamplingParams,
    StepStats,
)
from prefixdeploy.serving.engine.requests import ABORT_TOKEN


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        yield b


@pytest.mark.parametrize("kind", FAMILIES)
@pytest.mark.parametrize("slots, chunk, prompts", [(4, 256, 1), (8, 7, 1), (8, 24, 4)])
def test_busy_batch_returns_each_request_s_single_output(tiny_bundle, kind, slots, chunk, prompts):
    """24 requests (two prefixes and none, 1–39 prompt tokens, 1–39 new ones) through 4 or 8 slots, joining at
    different steps, with whole or chunked (7-token) prefill while others decode, one prompt a step or up to 4 within
    the budget: each equals its single-request greedy output exactly."""
    with load_bundle(tiny_bundle("switchable", kind)) as b:
        cases = mixed_cases(b, 24)
        want = [single(b, ids, name, n, ignore_eos=True) for ids, name, n in cases]
        steps: list[StepStats] = []
        with serving(b, max_num_seqs=slots, max_prefill_tokens=chunk, max_prefill_prompts=prompts) as engine:
            engine.on_step = steps.append
            got = asyncio.run(submit_staggered(engine, b, cases, GREEDY))
            assert engine.running == engine.waiting == 0
    assert [tokens for tokens, _, _ in got] == want
    assert all(reason == "length" for _, reason, _ in got)
    assert max(s.rows for s in steps) > 1  # rows really decoded together
    assert all(s.prefill_tokens <= chunk for s in steps if s.stalled)  # decoding rows wait on one chunk at most
    assert any(s.stalled for s in steps)


def test_eos_ends_a_row_with_stop_as_the_run_command_does(bundle):
    cases = mixed_cases(bundle, 12, seed=1)
    eos = bundle.manifest.eos_token_ids[0]
    want = [single(bundle, ids, name, n) for ids, name, n in cases]
    with serving(bundle, max_num_seqs=3) as engine:
        got = asyncio.run(submit_staggered(engine, bundle, cases, {"temperature": 0.0}))
    assert [tokens for tokens, _, _ in got] == want
    for (tokens, reason, _), (_, _, n) in zip(got, cases):
        assert reason == ("stop" if tokens[-1] == eos else "length") and (reason == "stop" or len(tokens) == n)


def test_slots_are_reused_by_later_requests(bundle):
    """Two slots, ten requests one after another and then all at once: the queue drains through the same slots."""
    cases = mixed_cases(bundle, 10, seed=2)
    want = [single(bundle, ids, name, n, ignore_eos=True) for ids, name, n in cases]

    async def one_by_one_then_together(engine):
        first = [await submit_staggered(engine, bundle, [case], GREEDY) for case in cases[:3]]
        return [got for (got,) in first] + await submit_staggered(engine, bundle, cases[3:], GREEDY)

    with serving(bundle, max_num_seqs=2) as engine:
        got = asyncio.run(one_by_one_then_together(engine))
        assert engine._executor.slots.kv.shape[2] == 2 and engine.running == 0
    assert [tokens for tokens, _, _ in got] == want


def test_seeded_sampling_reproduces_run_in_a_busy_batch(bundle):
    cases = mixed_cases(bundle, 9, seed=3)
    sampled = {"temperature": 0.9, "top_k": 50, "top_p": 0.95, "ignore_eos": True}
    want = [single(bundle, ids, name, n, seed=100 + i, **sampled) for i, (ids, name, n) in enumerate(cases)]

    async def run_all(engine):
        streams = [
            engine.submit(ids, bundle.prefixes.get(name), SamplingParams(max_tokens=n, seed=100 + i, **sampled))
            for i, (ids, name, n) in enumerate(cases)
        ]
        return await asyncio.gather(*(collect(s) for s in streams))

    with serving(bundle, max_num_seqs=4) as engine:
        got = asyncio.run(run_all(engine))
    assert [tokens for tokens, _, _ in got] == want
    assert any(
        tokens != single(bundle, ids, name, n, ignore_eos=True) for (tokens, _, _), (ids, name, n) in zip(got, cases)
    )


def test_logprobs_are_the_log_softmax_of_the_logits(bundle):
    ids = bundle.encode("the quick brown fox")
    steps = list(bundle.steps([ids], ["qa"], GenerationConfig(max_new_tokens=6, ignore_eos=True)))
    with serving(bundle) as engine:

        async def run():
            plain = engine.submit(ids, None, SamplingParams(max_tokens=3, **GREEDY))  # no logprobs: none computed
            asked = engine.submit(ids, bundle.prefixes["qa"], SamplingParams(max_tokens=6, logprobs=5, **GREEDY))
            return await collect(plain), await collect(asked)

        (_, _, plain), (tokens, _, events) = asyncio.run(run())
    assert all(e.logprob is None and e.top_logprobs is None for e in plain)
    assert tokens == [int(s.tokens[0]) for s in steps]
    for event, step in zip(events, steps):
        want = log_softmax(step.logits[0])  # (V,)
        assert np.isfinite(event.logprob) and event.logprob <= 0
        np.testing.assert_allclose(event.logprob, want[event.token_id], atol=1e-5)
        top_ids = [t for t, _ in event.top_logprobs]
        assert len(top_ids) == 5 and top_ids[0] == event.token_id  # greedy: the chosen token is the likeliest
        np.testing.assert_allclose([lp for _, lp in event.top_logprobs], np.sort(want)[::-1][:5], atol=1e-5)


def test_abort_drops_the_row_and_frees_its_slot(bundle):
    ids = bundle.encode("hello world")
    with serving(bundle, max_num_seqs=1) as engine:

        async def run():
            long = engine.submit(ids, bundle.prefixes["summ"], SamplingParams(max_tokens=100, **GREEDY))
            queued = engine.submit(ids, None, SamplingParams(max_tokens=100, **GREEDY))  # waits for the only slot
            first = await asyncio.wait_for(long.__anext__(), WAIT)
            long.abort()
            long.abort()  # idempotent
            queued.abort()  # aborted while still waiting for a slot
            rest, queued_events = await collect(long), await collect(queued)
            after = await collect(engine.submit(ids, None, SamplingParams(max_tokens=5, **GREEDY)))
            return first, rest, queued_events, after

        first, rest, queued_events, after = asyncio.run(run())
        assert engine.running == engine.waiting == 0
    assert first.finish_reason is None
    # The abort reaches the engine at its next step: the row may have finished its 100 tokens meanwhile.
    assert rest[1] in ("abort", "length") and rest[2][-1].finish_reason == rest[1]
    assert rest[1] == "length" or rest[2][-1].token_id == ABORT_TOKEN
    assert queued_events[0] == [] and queued_events[1] == "abort"
    assert after[0] == single(bundle, ids, None, 5, ignore_eos=True)


def test_a_cancelled_consumer_aborts_its_request(bundle):
    """A client that disconnects: the task reading the stream is cancelled, and the row goes at the next step."""
    ids = bundle.encode("hello")
    gate = StepGate(after=2)  # the engine waits after its second step until the reader is cancelled
    with serving(bundle, max_num_seqs=2) as engine:
        engine.on_step = gate

        async def run():
            reader = asyncio.create_task(collect(engine.submit(ids, None, SamplingParams(max_tokens=110, **GREEDY))))
            await gate.reached()
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
            gate.release()
            for _ in range(int(WAIT / 0.01)):  # bounded wait for the engine's next step
                if engine.running == 0:
                    return True
                await asyncio.sleep(0.01)
            return False

        assert asyncio.run(run())
    assert len(gate.steps) <= 3  # dropped at the step after the cancel, not run to its 110 tokens


def test_queue_full_is_refused_before_anything_is_queued(bundle):
    engine = Engine(bundle, EngineConfig(max_num_seqs=1, max_queue=2))  # not started: nothing leaves the queue

    async def run():
        streams = [engine.submit([5, 6], None, SamplingParams(max_tokens=2)) for _ in range(3)]  # 1 slot + 2 queued
        with pytest.raises(QueueFullError, match="queue is full"):
            engine.submit([5, 6], None, SamplingParams(max_tokens=2))
        assert engine.waiting == 3
        await asyncio.to_thread(engine.shutdown, 0.1)  # never started: the waiting ones are aborted
        return [await collect(s) for s in streams]

    assert [reason for _, reason, _ in asyncio.run(run())] == ["abort"] * 3


def test_requests_that_cannot_run_are_refused_synchronously(bundle, tiny_bundle):
    engine = Engine(bundle, EngineConfig(max_model_len=64))
    summ = bundle.prefixes["summ"]
    with load_bundle(tiny_bundle("switchable", "gpt2")) as other:
        alien = other.prefixes["summ"]

    async def run():
        with pytest.raises(ContextLengthError, match=r"prefix 5 \+ prompt 50 \+ max_tokens 10 = 65 .* 64"):
            engine.submit([5] * 50, summ, SamplingParams(max_tokens=10))
        engine.submit([5] * 49, summ, SamplingParams(max_tokens=10))  # 64 fits
        with pytest.raises(PrefixDeployError, match="prompt is empty"):
            engine.submit([], None, SamplingParams())
        with pytest.raises(PrefixDeployError, match="must be integers"):
            engine.submit([5, "6"], None, SamplingParams())
        with pytest.raises(PrefixDeployError, match="outside the vocabulary"):
            engine.submit([5, bundle.manifest.vocab_size], None, SamplingParams())
        with pytest.raises(PrefixMismatchError, match="Re-train or import"):
            engine.submit([5], alien, SamplingParams())
        assert engine.waiting == 1
        engine.shutdown(0)
        with pytest.raises(EngineDrainingError):
            engine.submit([5], None, SamplingParams())

    asyncio.run(run())
    for bad, field in [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"logprobs": 6}, "logprobs"),
    ]:
        with pytest.raises(PrefixDeployError, match=field):
            SamplingParams(**bad)
    with pytest.raises(PrefixDeployError, match="max_model_len 500 exceeds the model's context of 128"):
        Engine(bundle, EngineConfig(max_model_len=500))


def test_shutdown_lets_short_requests_finish_and_aborts_the_rest(bundle):
    """The short request finishes within the drain time; the engine is then held (a step hook, not a sleep) until
    the drain time is over, so the long ones are still running when it ends and are aborted."""
    ids = bundle.encode("hello")
    engine = Engine(bundle, EngineConfig(max_num_seqs=2))
    gate = StepGate(after=6)  # the short one (3 tokens, admitted first, decoding from step 1) is done by then
    engine.on_step = gate
    engine.start()

    async def run():
        short = engine.submit(ids, None, SamplingParams(max_tokens=3, **GREEDY))
        longs = [engine.submit(ids, bundle.prefixes["qa"], SamplingParams(max_tokens=115, **GREEDY)) for _ in range(3)]
        short_result = await collect(short)
        await gate.reached()
        draining = asyncio.create_task(engine.ashutdown(0.5))  # waits 0.5 s for idle: the engine is held
        assert await asyncio.to_thread(_until_stopping, engine)  # the drain time is over
        gate.release()
        await asyncio.wait_for(draining, WAIT)
        assert engine.draining and not engine._thread.is_alive()
        with pytest.raises(EngineDrainingError, match="shutting down"):
            engine.submit(ids, None, SamplingParams())
        return short_result, [await collect(s) for s in longs]

    short, longs = asyncio.run(run())
    assert short[1] == "length" and short[0] == single(bundle, ids, None, 3, ignore_eos=True)
    assert [reason for _, reason, _ in longs] == ["abort"] * 3
    engine.shutdown(1.0)  # idempotent


def _until_stopping(engine) -> bool:
    """Block (bounded by WAIT) until shutdown gives up waiting for idle (it sets `_stopping` and notifies)."""
    with engine._cv:
        return engine._cv.wait_for(lambda: engine._stopping, WAIT)


def test_a_failing_request_does_not_stop_the_engine(bundle, monkeypatch, caplog):
    """An internal error in one row's prefill fails that request (its stream raises) and the others carry on."""
    real = KVSlots.prefill

    def prefill(self, slot, ids):
        if ids[:2] == [7, 7]:
            raise RuntimeError("injected fault")
        return real(self, slot, ids)

    monkeypatch.setattr(KVSlots, "prefill", prefill)
    ok = bundle.encode("hello")
    with serving(bundle, max_num_seqs=2) as engine:

        async def run():
            bad = engine.submit([7, 7, 8], None, SamplingParams(max_tokens=4, **GREEDY))
            good = engine.submit(ok, None, SamplingParams(max_tokens=4, **GREEDY))
            with pytest.raises(RuntimeError, match="injected fault"):
                await collect(bad)
            return await collect(good)

        assert asyncio.run(run())[0] == single(bundle, ok, None, 4, ignore_eos=True)
    assert "prefill of request" in caplog.text


def test_baked_bundle_serves_its_prefix_and_the_portable_graph_is_refused(tiny_bundle):
    with load_bundle(tiny_bundle("baked")) as baked:
        ids = baked.encode("the cat sat")
        with serving(baked) as engine:
            tokens = asyncio.run(submit_staggered(engine, baked, [(ids, None, 8)], GREEDY))[0][0]
        assert tokens == single(baked, ids, None, 8, ignore_eos=True)
    with load_bundle(tiny_bundle("switchable"), graph="model.onnx") as portable:
        with pytest.raises(PrefixDeployError, match="needs the bundle's ONNX Runtime graph.*precision= one of fp32"):
            Engine(portable)


def test_submit_sync_streams_without_asyncio(bundle):
    ids = bundle.encode("hello")
    with serving(bundle) as engine:
        events = list(engine.submit_sync(ids, bundle.prefixes["summ"], SamplingParams(max_tokens=6, **GREEDY)))
    assert [e.token_id for e in events] == single(bundle, ids, "summ", 6, ignore_eos=True)
    assert events[-1].finish_reason == "length"


def test_the_engine_runs_without_torch_or_an_http_framework(tiny_bundle):
    blocked = ("torch", "transformers", "peft", "onnx", "fastapi", "starlette", "uvicorn", "prometheus_client")
    code = (
        f"import sys\nfor n in {blocked!r}: sys.modules[n] = None\n"
        "from prefixdeploy.runtime.bundle import load_bundle\n"
        "from prefixdeploy.serving.engine.engine import Engine, SamplingParams\n"
        f"with load_bundle({str(tiny_bundle('switchable'))!r}) as b:\n"
        "    engine = Engine(b)\n"
        "    engine.start()\n"
        "    events = list(engine.submit_sync([5, 6, 7], b.prefixes['qa'], SamplingParams(max_tokens=3)))\n"
        "    engine.shutdown(5)\n"
        "print(len(events), events[-1].finish_reason)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] in ("length", "stop")
