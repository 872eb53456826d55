"""Shared by the engine tests: a started engine that always shuts down, bounded stream reading, reference outputs.

Every wait is bounded (`WAIT` seconds) and every engine is shut down with a timeout, so a bug shows up as a failure,
never as a hung test process.
"""

from __future__ import annotations

import asyncio
import random
import threading
from contextlib import contextmanager

from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.serving.engine.engine import Engine, EngineConfig, SamplingParams
from prefixdeploy.serving.engine.requests import ABORT_TOKEN

WAIT = 60.0  # seconds: the bound on any one wait for the engine
GREEDY = {"temperature": 0.0, "ignore_eos": True}


@contextmanager
def serving(bundle, **config):
    """A started engine that is always shut down (5 s for running requests, then abort) when the block ends."""
    engine = Engine(bundle, EngineConfig(**config))
    engine.start()
    try:
        yield engine
    finally:
        engine.shutdown(5.0)
        assert not engine._thread.is_alive()


async def collect(stream) -> tuple[list[int], str, list]:
    """All events of a stream (bounded by WAIT): (token ids, finish_reason, events)."""

    async def read():
        return [event async for event in stream]

    events = await asyncio.wait_for(read(), WAIT)
    return [e.token_id for e in events if e.token_id != ABORT_TOKEN], events[-1].finish_reason, events


def single(bundle, ids: list[int], name: str | None, max_tokens: int, **kwargs) -> list[int]:
    """What `prefixdeploy run` returns for one request: the reference for every engine output."""
    config = GenerationConfig(max_new_tokens=max_tokens, **kwargs)
    return bundle.generate_ids([ids], [name], config)[0]


def mixed_cases(bundle, n: int, seed: int = 0) -> list[tuple[list[int], str | None, int]]:
    """n requests (prompt ids, prefix name or None, max_tokens) of varied lengths and prefixes."""
    rnd = random.Random(seed)
    vocab = bundle.manifest.vocab_size
    names = [*sorted(bundle.prefixes), None]
    cases = []
    for _ in range(n):
        ids = [rnd.randrange(3, vocab) for _ in range(rnd.randrange(1, 40))]  # ids 0-2: <unk>, <s>, </s>
        cases.append((ids, rnd.choice(names), rnd.randrange(1, 40)))
    return cases


async def submit_staggered(engine, bundle, cases, params: dict) -> list[tuple]:
    """Submit every case, a few at a time with pauses, so requests join the batch at different steps."""
    tasks = []
    for i, (ids, name, max_tokens) in enumerate(cases):
        stream = engine.submit(ids, bundle.prefixes.get(name), SamplingParams(max_tokens=max_tokens, **params))
        tasks.append(asyncio.create_task(collect(stream)))
        if i % 3 == 2:
            await asyncio.sleep(0.005)
    return await asyncio.gather(*tasks)


class StepGate:
    """An `on_step` hook that holds the engine thread after its `after`-th step until `release()` (or WAIT seconds):
    a test acts while the engine is known to be between two steps, with no sleeps."""

    def __init__(self, after: int = 1):
        self.after, self.steps = after, []
        self.held, self._open = threading.Event(), threading.Event()

    def __call__(self, stats) -> None:
        self.steps.append(stats)
        if len(self.steps) >= self.after and not self._open.is_set():
            self.held.set()
            self._open.wait(WAIT)

    async def reached(self) -> None:
        """Wait (bounded) until the engine is held."""
        assert await asyncio.to_thread(self.held.wait, WAIT), "the engine never reached the gate"

    def release(self) -> None:
        self._open.set()
