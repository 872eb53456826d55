"""Mixed steps on real ONNX Runtime sessions: with the bundle's mixed-step graph loaded, a step that prefills a chunk
while rows decode runs both in one forward, and every output still equals the single request's (fp32: exact)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from engine_cases import GREEDY, collect, mixed_cases, serving, single, submit_staggered
from tiny_models import FAMILIES

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.manifest import read_manifest, write_manifest
from prefixdeploy.serving.engine.engine import SamplingParams, StepStats


def served_cases(bundle, n: int, seed: int, **config) -> tuple[list, list, list[StepStats]]:
    """n staggered greedy cases through an engine of `config`: (tokens per case, `prefixdeploy run`'s, the steps)."""
    cases = mixed_cases(bundle, n, seed=seed)
    want = [single(bundle, ids, name, m, ignore_eos=True) for ids, name, m in cases]
    steps: list[StepStats] = []
    with serving(bundle, **config) as engine:
        engine.on_step = steps.append
        got = asyncio.run(submit_staggered(engine, bundle, cases, GREEDY))
    return [tokens for tokens, _, _ in got], want, steps


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable"), mixed_steps=True) as b:
        yield b


@pytest.mark.parametrize("kind", FAMILIES)
def test_mixed_steps_return_each_request_s_single_output(tiny_bundle, kind):
    """24 requests through 4 slots with 7-token chunks: the chunks run in the decode's forward, outputs exact."""
    with load_bundle(tiny_bundle("switchable", kind), mixed_steps=True) as b:
        assert b.mixed_graph == "model.ort.fp32.mixed.onnx"
        got, want, steps = served_cases(b, 24, 0, max_num_seqs=4, max_prefill_tokens=7)
    assert got == want
    mixed = [s for s in steps if s.mixed]
    assert mixed and all(s.rows > 0 and 0 < s.prefill_tokens <= 7 for s in mixed)
    assert not any(s.stalled and s.prefill_tokens and not s.mixed for s in steps)  # every chunk beside rows mixed


def test_several_prompts_a_step_beside_mixed_steps_keep_every_output(bundle):
    """Up to 4 prompts a step within a 16-token budget: the first in the decode's forward, the others after it."""
    got, want, steps = served_cases(bundle, 24, 3, max_num_seqs=6, max_prefill_tokens=16, max_prefill_prompts=4)
    assert got == want
    assert any(s.mixed for s in steps) and all(s.prefill_tokens <= 16 for s in steps if s.stalled)


def test_seeded_sampling_and_choices_in_mixed_steps(bundle):
    """Seeded sampled rows (each choice i of n = 2 with seed + i) keep their streams when their steps mix."""
    cases = mixed_cases(bundle, 9, seed=3)
    sampled = {"temperature": 0.9, "top_k": 50, "ignore_eos": True}
    want = [
        [single(bundle, ids, name, n, seed=100 + i + k, **sampled) for k in range(2)]
        for i, (ids, name, n) in enumerate(cases)
    ]

    async def run_all(engine):
        groups = []
        for i, (ids, name, n) in enumerate(cases):
            params = SamplingParams(max_tokens=n, seed=100 + i, n=2, **sampled)
            streams = engine.submit_choices(ids, bundle.prefixes.get(name), params)
            groups.append(asyncio.gather(*(collect(s) for s in streams)))
        return await asyncio.gather(*groups)

    steps: list[StepStats] = []
    with serving(bundle, max_num_seqs=6, max_prefill_tokens=5) as engine:
        engine.on_step = steps.append
        got = asyncio.run(run_all(engine))
    assert [[tokens for tokens, _, _ in group] for group in got] == want
    assert any(s.mixed for s in steps)


def test_prompt_logprobs_prefill_apart_from_mixed_steps(bundle):
    """A request that wants its prompt's logprobs needs every position's logits: its chunks run on their own."""
    ids = bundle.encode("the quick brown fox jumps over the lazy dog")
    steps: list[StepStats] = []

    async def run(engine):
        # decodes while the other prefills: 90 steps, so that a loaded machine pausing this thread between the two
        # submissions (30 once were not enough) cannot let it finish before the other is admitted
        busy = engine.submit(ids, None, SamplingParams(max_tokens=90, **GREEDY))
        scored = engine.submit(ids, bundle.prefixes["qa"], SamplingParams(max_tokens=2, prompt_logprobs=1, **GREEDY))
        return await collect(busy), await collect(scored)

    with serving(bundle, max_num_seqs=2, max_prefill_tokens=3) as engine:
        engine.on_step = steps.append
        _, (tokens, _, events) = asyncio.run(run(engine))
    assert tokens == single(bundle, ids, "qa", 2, ignore_eos=True)
    assert len(events[0].prompt_logprobs) == len(ids)
    assert any(s.stalled and s.prefill_tokens and not s.mixed for s in steps)


def older_bundle(source: Path, directory: Path) -> Path:
    """A copy of bundle `source` as exported before mixed-step graphs: no twin files, none in the manifest."""
    out = directory / "older"
    shutil.copytree(source, out)
    manifest = read_manifest(out)
    twins = {name for name in manifest.files if name.endswith(".mixed.onnx")}
    for name in twins:
        (out / name).unlink()
    write_manifest(replace(manifest, files={k: v for k, v in manifest.files.items() if k not in twins}), out)
    return out


def test_a_bundle_without_a_mixed_graph_serves_as_before(tiny_bundle, tmp_path):
    """Bundles exported before mixed-step graphs: nothing to load, steps run their two forwards."""
    with load_bundle(older_bundle(tiny_bundle("switchable"), tmp_path), mixed_steps=True) as b:
        assert b.mixed_graph is None and b.backend.mixed_session is None
        got, want, steps = served_cases(b, 6, 5, max_num_seqs=3, max_prefill_tokens=4)
    assert got == want
    assert any(s.stalled and s.prefill_tokens for s in steps) and not any(s.mixed for s in steps)
