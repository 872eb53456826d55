"""Faults against real server processes: clients that leave, a full queue, SIGTERM under load, prefixes loaded and
unloaded under load, bad prefix files. Every request loop is bounded in count and time."""

from __future__ import annotations

import asyncio
import json
import shutil

import httpx
import numpy as np
import pytest
from server_process import KEY, app_in_process, running_server, wait_until

from prefixdeploy.runtime.prefix import ModelFacts, Prefix, load_prefix, save_prefix

LONG = {"prompt": "once upon a time", "max_tokens": 100, "temperature": 0, "ignore_eos": True}


async def clients_leave(server) -> int:
    """Clients leave mid-stream, while queued (streaming), and by timing out (non-streaming); returns how many left
    for sure while queued (30 long requests on one row keep the queue full meanwhile; they leave too)."""
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.stream("POST", "/v1/completions", json={"model": "summ", "stream": True, **LONG}) as response:
            async for line in response.aiter_lines():  # its first token: it runs; leave mid-stream
                if line.startswith("data: {"):
                    break
        busy = [
            asyncio.ensure_future(http.post("/v1/completions", json={"model": "qa", **LONG}, timeout=60))
            for _ in range(30)
        ]
        queue_filled = lambda: server.metric("prefixdeploy_requests_waiting") >= 10  # noqa: E731
        assert await asyncio.to_thread(wait_until, queue_filled)
        async with http.stream("POST", "/v1/completions", json={"model": "summ", "stream": True, **LONG}) as queued:
            assert queued.status_code == 200  # it waits behind the busy ones; leave now
        with pytest.raises(httpx.ReadTimeout):
            await http.post("/v1/completions", json={"model": "summ", **LONG}, timeout=0.1)
        for call in busy:
            call.cancel()
        await asyncio.gather(*busy, return_exceptions=True)
        return 2 + sum(1 for call in busy if call.cancelled())


def test_clients_leaving_free_their_rows(served_bundle):
    with running_server(served_bundle, "--max-num-seqs", "1") as server:
        left = asyncio.run(clients_leave(server))
        idle = lambda: server.metric("prefixdeploy_requests_running") + server.metric("prefixdeploy_requests_waiting")  # noqa: E731
        assert wait_until(lambda: idle() == 0)
        assert server.metric("prefixdeploy_request_success_total", finish_reason="abort") >= left - 1  # -1: one busy
        # request may have been running, and may have finished before its client left
        out = server.client().completions.create(model="summ", prompt="hello", max_tokens=3)
        assert out.choices[0].finish_reason in ("stop", "length")


async def burst(url: str, n: int, **body) -> list[httpx.Response]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        calls = [http.post("/v1/completions", json={"model": "summ", **LONG, **body}) for _ in range(n)]
        return await asyncio.wait_for(asyncio.gather(*calls), 120)


async def openai_burst(server, n: int) -> list:
    async with server.async_client(max_retries=20) as client:
        calls = [
            client.completions.create(
                model="summ", prompt="hello", max_tokens=60, temperature=0, extra_body={"ignore_eos": True}
            )
            for _ in range(n)
        ]
        return await asyncio.wait_for(asyncio.gather(*calls), 120)


def test_queue_full_is_429_with_retry_after_and_the_openai_client_retries(served_bundle):
    with running_server(served_bundle, "--max-num-seqs", "1", "--max-queue", "1") as server:
        responses = asyncio.run(burst(server.url, 6))
        refused = [r for r in responses if r.status_code == 429]
        assert refused and all(r.headers["Retry-After"] == "1" for r in refused)
        assert all(r.json()["error"]["code"] == "queue_full" for r in refused)
        assert all(r.status_code == 200 for r in responses if r not in refused)
        before = server.metric("prefixdeploy_request_rejected_total", reason="queue_full")
        outs = asyncio.run(openai_burst(server, 4))
        assert all(o.usage.completion_tokens == 60 for o in outs)
        assert server.metric("prefixdeploy_request_rejected_total", reason="queue_full") > before  # it did retry


async def sigterm_under_load(server) -> tuple[list, httpx.Response, httpx.Response]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as http:
        calls = [asyncio.ensure_future(http.post("/v1/completions", json={"model": "qa", **LONG})) for _ in range(40)]
        # SIGTERM once a queue stands: 25+ waiting requests are 2,500+ tokens, several times what the tiny model's
        # one row runs in the 0.1 s drain (waiting for one running request alone let all 40 finish on a fast run)
        queued = lambda: server.metric("prefixdeploy_requests_waiting") >= 25  # noqa: E731
        assert await asyncio.to_thread(wait_until, queued)
        server.proc.terminate()  # SIGTERM
        draining = lambda: server.health_status() == 503  # noqa: E731
        assert await asyncio.to_thread(wait_until, draining)
        late = await http.post("/v1/completions", json={"model": "qa", **LONG})
        health = await http.get("/health")
        return await asyncio.wait_for(asyncio.gather(*calls), 60), late, health


def test_sigterm_drains_running_requests_aborts_the_rest_and_exits_0(served_bundle):
    with running_server(served_bundle, "--max-num-seqs", "1", "--shutdown-timeout", "0.1") as server:
        results, late, health = asyncio.run(sigterm_under_load(server))
        assert late.status_code == 503 and late.json()["error"]["code"] == "draining"
        assert health.status_code == 503
        reasons = [r.json()["choices"][0]["finish_reason"] for r in results]  # every client got an answer
        assert all(r.status_code == 200 for r in results)
        assert "abort" in reasons and set(reasons) <= {"length", "abort"}, (reasons, "".join(server.log))
        assert server.proc.wait(30) == 0, "".join(server.log)


def prefix_file(source: Prefix, path, **changes) -> None:
    fields = dict(name=source.name, key=source.key.copy(), value=source.value.copy(), model=source.model) | changes
    save_prefix(Prefix(**fields), path)


async def requests_while(server, action, n: int = 64, tokens: int = 100) -> list:
    """`n` requests of `tokens` tokens in flight while `action` runs (in a thread); returns their results, the
    action's, and whether it overlapped them: requests ran or waited both just before and just after it (the load,
    ~n·tokens/8 engine steps, lasts several times as long as the action)."""

    def busy() -> bool:
        in_flight = ("prefixdeploy_requests_running", "prefixdeploy_requests_waiting")
        return sum(server.metric(name) for name in in_flight) >= 1

    async with server.async_client() as client:
        calls = [
            asyncio.ensure_future(
                client.completions.create(
                    model=("summ", "qa")[i % 2],
                    prompt="hello",
                    max_tokens=tokens,
                    temperature=0,
                    extra_body={"ignore_eos": True},
                )
            )
            for i in range(n)
        ]
        assert await asyncio.to_thread(wait_until, busy, 60.0, 0.005)
        result = await asyncio.to_thread(action)
        overlapped = await asyncio.to_thread(busy)
        return await asyncio.wait_for(asyncio.gather(*calls), 120), result, overlapped


def test_loading_and_unloading_a_prefix_under_load(server, served_bundle, runtime_dir):
    summ = load_prefix(served_bundle / "prefixes" / "summ.safetensors")
    prefix_file(summ, runtime_dir / "copy.safetensors")

    def load():
        with server.http() as http:
            return http.post("/v1/prefixes", json={"name": "summ2", "file": "copy.safetensors"})

    outs, loaded, overlapped = asyncio.run(requests_while(server, load))
    assert overlapped and loaded.status_code == 200, loaded.text
    assert loaded.json()["parent"] == next(m.id for m in server.client().models.list().data if m.parent is None)
    assert all(o.usage.completion_tokens == 100 for o in outs)
    client = server.client()
    assert "summ2" in {m.id for m in client.models.list().data}
    same = [
        client.completions.create(model=m, prompt="hello", max_tokens=8, temperature=0).choices[0].text
        for m in ("summ", "summ2")
    ]
    assert same[0] == same[1]  # the same keys and values

    body = {"model": "summ2", "stream": True, "stream_options": {"include_usage": True}, **LONG}
    with server.http() as http, http.stream("POST", "/v1/completions", json=body) as response:
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        first = next(lines)  # the request is running on summ2
        with server.http() as other:
            assert other.delete("/v1/prefixes/summ2").status_code == 200
        rest = [first, *lines]
    assert rest[-1] == "data: [DONE]"
    events = [json.loads(line.removeprefix("data: ")) for line in rest[:-1]]
    assert events[-1]["usage"]["completion_tokens"] == 100  # it finished after the unload
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    with server.http() as http:
        assert http.post("/v1/completions", json={"model": "summ2", "prompt": "x"}).status_code == 404


def bad_files(source: Prefix, directory) -> dict[str, str]:
    good = directory / "good.safetensors"
    prefix_file(source, good)
    data = good.read_bytes()
    (directory / "truncated.safetensors").write_bytes(data[: len(data) - 100])
    (directory / "huge-header.safetensors").write_bytes((10**10).to_bytes(8, "little") + b'{"__metadata__": {}}')
    (directory / "garbage.safetensors").write_bytes(b"\x13\x37" * 64)
    nan_key = source.key.copy()
    nan_key[0, 0, 0, 0] = np.nan
    prefix_file(source, directory / "nan.safetensors", key=nan_key)
    m = source.model
    other = ModelFacts(m.architecture, m.num_layers, m.num_key_value_heads * 2, m.head_dim, m.hidden_size)
    shape = (m.num_layers, m.num_key_value_heads * 2, 3, m.head_dim)
    prefix_file(
        source,
        directory / "geometry.safetensors",
        key=np.zeros(shape, np.float32),
        value=np.zeros(shape, np.float32),
        model=other,
    )
    long = (m.num_layers, m.num_key_value_heads, 400, m.head_dim)
    prefix_file(
        source, directory / "too-long.safetensors", key=np.zeros(long, np.float32), value=np.zeros(long, np.float32)
    )
    shutil.copy(good, directory / "not-safetensors.bin")
    names = ("truncated", "huge-header", "garbage", "nan", "geometry", "too-long")
    return {n: f"{n}.safetensors" for n in names} | {
        "wrong suffix": "not-safetensors.bin",
        "missing": "none.safetensors",
    }


def test_bad_prefix_files_are_400_and_change_nothing(server, served_bundle, runtime_dir):
    files = bad_files(load_prefix(served_bundle / "prefixes" / "summ.safetensors"), runtime_dir)
    before = [m.id for m in server.client().models.list().data]
    with server.http() as http:
        for case, file in files.items():
            response = http.post("/v1/prefixes", json={"name": f"bad-{case.replace(' ', '-')}", "file": file})
            assert response.status_code == 400, (case, response.text)
            assert response.json()["error"]["param"] == "file", case
    assert [m.id for m in server.client().models.list().data] == before


def test_request_timeout_ends_a_request_with_abort(served_bundle):
    """Sixteen long requests on one row: the later ones outlive a 50 ms timeout while they wait and end with abort."""
    with app_in_process(served_bundle, request_timeout=0.05, max_num_seqs=1) as call:

        async def eight(client):
            calls = [
                client.post("/v1/completions", json={"model": "summ", "stream": i == 15, **LONG}) for i in range(16)
            ]
            return await asyncio.gather(*calls)

        responses = call.run(eight)
    finished = [r.json()["choices"][0] for r in responses[:15]]
    assert any(c["finish_reason"] == "abort" for c in finished)
    assert all(c["finish_reason"] in ("length", "abort") for c in finished)
    assert '"finish_reason": "abort"' in responses[15].text and responses[15].text.endswith("data: [DONE]\n\n")


def test_an_engine_failure_is_a_500_envelope_or_an_error_event_and_serving_goes_on(served_bundle, monkeypatch):
    from prefixdeploy.serving.engine.scheduler import Scheduler

    plan, calls = Scheduler.plan_decode, []

    def failing_plan(self):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom: a bug in a decode step")
        return plan(self)

    monkeypatch.setattr(Scheduler, "plan_decode", failing_plan)
    with app_in_process(served_bundle, max_num_seqs=1) as call:
        streamed = call("POST", "/v1/completions", json={"model": "summ", "stream": True, **LONG}).text
        events = [json.loads(e.removeprefix("data: ")) for e in streamed.strip().split("\n\n")]
        assert events[-1]["error"]["type"] == "internal_server_error" and "boom" not in streamed
        assert "[DONE]" not in streamed and "Traceback" not in streamed
        calls.clear()
        failed = call("POST", "/v1/completions", json={"model": "summ", **LONG})
        assert failed.status_code == 500 and failed.json()["error"]["type"] == "internal_server_error"
        assert "Traceback" not in failed.text and "boom" not in failed.text
        calls.append(1)  # past the failing call from now on
        assert call("POST", "/v1/completions", json={"model": "summ", **LONG}).status_code == 200
