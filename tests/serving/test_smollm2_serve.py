"""The real SmolLM2-135M-Instruct with the three sample prefixes behind a real server: chat requests for every task,
concurrent and mixed with the base model, and one by one with prompt lookup, each equal to `prefixdeploy run --chat`'s
greedy output."""

from __future__ import annotations

import asyncio

import pytest
from server_process import ROOT, running_server

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

pytestmark = pytest.mark.slow

INPUTS = {
    "sentiment": "The strap on the Wendel camera snapped the first time I used it.",
    "extract": "Yesterday Ingrid Solberg took the night train to Trondheim.",
    "e2e": "name[Blue Fig], eatType[coffee shop], area[riverside], near[Old Mill]",
    None: "What is the capital of France?",
}
MAX_TOKENS = 24


@pytest.fixture(scope="module")
def smol_bundle(tmp_path_factory):
    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    prefixes = tuple(f"{t}={ROOT / 'samples' / t / f'{t}.safetensors'}" for t in ("sentiment", "extract", "e2e"))
    out = tmp_path_factory.mktemp("smollm2-serve") / "bundle"
    return export_bundle(ExportConfig(str(fetch_smollm2_dir()), prefixes, out))


@pytest.fixture(scope="module")
def want(smol_bundle) -> dict:
    with load_bundle(smol_bundle) as bundle:
        config = GenerationConfig(max_new_tokens=MAX_TOKENS)
        return {task: bundle.generate([text], [task], config, chat=True)[0].text for task, text in INPUTS.items()}


async def ask_all(server, base: str) -> list[tuple]:
    async with server.async_client(timeout=300.0) as client:  # a busy shared CPU is slow, not broken

        async def one(task, text, stream):
            args = dict(
                model=task or base, messages=[{"role": "user", "content": text}], max_tokens=MAX_TOKENS, temperature=0
            )
            if not stream:
                return task, (await client.chat.completions.create(**args)).choices[0].message.content
            chunks = await client.chat.completions.create(**args, stream=True)
            return task, "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])

        calls = [one(task, text, stream) for task, text in INPUTS.items() for stream in (False, True)]
        return await asyncio.wait_for(asyncio.gather(*calls), 600)


def test_smollm2_sample_prefixes_served_concurrently_equal_run(smol_bundle, want):
    with running_server(smol_bundle, "--max-num-seqs", "8") as server:
        base = next(m.id for m in server.client().models.list().data if m.parent is None)
        answers = asyncio.run(ask_all(server, base))
    assert len(answers) == 2 * len(INPUTS)
    for task, text in answers:
        assert text == want[task], (task, text, want[task])


def test_smollm2_prompt_lookup_serves_run_s_text_one_request_at_a_time(smol_bundle, want):
    """Alone in the batch, greedy requests draft from their input; the extract answer copies a name, so some drafts
    are accepted, and every text is still `run`'s."""
    with running_server(smol_bundle, "--prompt-lookup", "8") as server:
        client = server.client(timeout=300.0)
        base = next(m.id for m in client.models.list().data if m.parent is None)
        for task, text in INPUTS.items():
            messages = [{"role": "user", "content": text}]
            reply = client.chat.completions.create(
                model=task or base, messages=messages, max_tokens=MAX_TOKENS, temperature=0
            )
            assert reply.choices[0].message.content == want[task], task
        accepted = server.metric("prefixdeploy_lookup_accepted_tokens_total")
        assert 0 < accepted <= server.metric("prefixdeploy_lookup_draft_tokens_total")
