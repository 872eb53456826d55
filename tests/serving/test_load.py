"""Load: 64 concurrent clients (prefixes summ, qa and none; streaming and not) against one server: no failure, and
every greedy output equals its single-request output (`prefixdeploy run`'s tokens, computed in-process)."""

from __future__ import annotations

import asyncio

from server_process import running_server

CLIENTS = 64
PROMPTS = ("the quick brown fox", "hello", "a short note about trains:", "three things to pack", "once upon a time")
TIMEOUT = 120.0


async def one_client(server, i: int, base: str) -> tuple:
    model = ("summ", "qa", base)[i % 3]
    prompt, max_tokens, stream = PROMPTS[i % len(PROMPTS)], 4 + (i * 7) % 21, i % 2 == 0
    async with server.async_client() as client:
        args = dict(
            model=model, prompt=prompt, max_tokens=max_tokens, temperature=0, extra_body={"return_token_ids": True}
        )
        if stream:
            tokens, text = [], ""
            async for chunk in await client.completions.create(**args, stream=True):
                for choice in chunk.choices:
                    tokens += choice.model_extra.get("token_ids") or []
                    text += choice.text
        else:
            out = await client.completions.create(**args)
            tokens, text = out.choices[0].model_extra["token_ids"], out.choices[0].text
    return model, prompt, max_tokens, tokens, text


async def all_clients(server, base: str):
    return await asyncio.wait_for(asyncio.gather(*(one_client(server, i, base) for i in range(CLIENTS))), TIMEOUT)


def test_64_concurrent_clients_get_their_single_request_outputs(server, reference):
    base = next(m.id for m in server.client().models.list().data if m.parent is None)
    results = asyncio.run(all_clients(server, base))
    assert len(results) == CLIENTS
    mismatches = []
    for model, prompt, max_tokens, tokens, text in results:
        want = reference(reference.bundle.encode(prompt), None if model == base else model, max_tokens)
        if tokens != want or text != reference.bundle.codec.decode(want):
            mismatches.append((model, prompt, max_tokens, tokens, want))
    assert not mismatches, f"{len(mismatches)}/{CLIENTS} differ from their single-request output: {mismatches[:3]}"
    assert server.metric("prefixdeploy_requests_running") == 0
    assert server.metric("prefixdeploy_rows_per_step_count") > 0


def test_with_mixed_steps_64_clients_still_get_their_single_request_outputs(served_bundle, reference):
    """`serve --mixed-steps`: prompt chunks (3 tokens) run in the decode's forward of the mixed-step graph."""
    args = ("--mixed-steps", "--max-num-seqs", "8", "--max-prefill-tokens", "3")
    with running_server(served_bundle, *args) as server:
        base = next(m.id for m in server.client().models.list().data if m.parent is None)
        results = asyncio.run(all_clients(server, base))
        assert any("mixed steps: model.ort.fp32.mixed.onnx" in line for line in server.log)
    mismatches = [
        (model, prompt, tokens)
        for model, prompt, max_tokens, tokens, _ in results
        if tokens != reference(reference.bundle.encode(prompt), None if model == base else model, max_tokens)
    ]
    assert len(results) == CLIENTS and not mismatches, mismatches[:3]
