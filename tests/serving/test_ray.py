"""The OpenAI routes on Ray Serve (2 replicas of the tiny bundle, a real local Ray): greedy outputs equal
`prefixdeploy run`'s with mixed prefixes, streaming or not; prefix-affine routing; the prefix store."""

from __future__ import annotations

import collections
import random
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from ray_fixtures import BROKEN, COUNT, HELD, MAX_PREFIXES_PER_REPLICA, REPLICA, ROUTE, STORE_SIZE, store_name

pytestmark = pytest.mark.ray
PROMPT = "the quick brown fox"


def complete(client, model: str, max_tokens: int = 8, **extra):
    """A greedy completion routed by its model (the header Ray's proxy routes on); returns (body, headers)."""
    raw = client.completions.with_raw_response.create(
        model=model,
        prompt=PROMPT,
        max_tokens=max_tokens,
        temperature=0,
        extra_headers={ROUTE: model},
        extra_body={"return_token_ids": True, **extra},
    )
    return raw.parse(), raw.headers


def test_greedy_outputs_equal_run_with_mixed_prefixes_streaming_or_not(ray_server, store_reference):
    base = next(m.id for m in ray_server.client().models.list().data if m.parent is None)
    models = ["summ", "qa", base, store_name(0), store_name(1)] * 2
    random.Random(0).shuffle(models)
    client = ray_server.client()
    wants = {m: store_reference(PROMPT, None if m == base else m, 10) for m in set(models)}  # before the threads

    def check(model: str) -> None:
        want = wants[model]
        body, _ = complete(client, model, 10)
        assert body.choices[0].model_extra["token_ids"] == want, model
        stream = client.completions.create(
            model=model, prompt=PROMPT, max_tokens=10, temperature=0, stream=True, extra_headers={ROUTE: model}
        )
        assert "".join(c.choices[0].text for c in stream) == store_reference.decode(want), model

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check, models))


def test_requests_go_to_a_replica_that_already_holds_their_prefix(ray_server):
    """After one warm-up request per prefix, >= 90% of the requests find their prefix held by their replica."""
    client = ray_server.client()
    names = [store_name(i) for i in range(10, 16)]  # 6 prefixes: they fit in one replica's 8 as well as in two
    warm = {name: complete(client, name)[1][REPLICA] for name in names}
    time.sleep(1.0)  # replicas report what they hold to Ray's routers every 0.1 s
    requests = names * 8
    random.Random(1).shuffle(requests)
    with ThreadPoolExecutor(2) as pool:
        headers = list(pool.map(lambda name: complete(client, name)[1], requests))
    held = sum(h[HELD] == "yes" for h in headers)
    replicas = {h[REPLICA] for h in headers}
    print(
        f"affinity: {held}/{len(headers)} requests served by a replica holding their prefix; warm-up spread "
        f"{sorted(collections.Counter(warm.values()).values())}; replicas used {len(replicas)}"
    )
    assert held >= 0.9 * len(headers)


def test_a_store_of_50_prefixes_with_8_per_replica_serves_them_all(ray_server, store_reference):
    client = ray_server.client()
    names = [store_name(i) for i in range(STORE_SIZE)]
    listed = {m.id for m in client.models.list().data}
    assert set(names) <= listed
    wants = {name: store_reference(PROMPT, name, 6) for name in names}

    def ask(name: str):
        body, headers = complete(client, name, 6)
        return name, body.choices[0].model_extra["token_ids"], int(headers[COUNT])

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(ask, names + names[::-1]))
    assert all(ids == wants[name] for name, ids, _ in results)
    most = max(count for _, _, count in results)
    print(f"store: {len(results)} requests over {STORE_SIZE} prefixes succeeded; most held by a replica: {most}")
    assert most <= MAX_PREFIXES_PER_REPLICA


def test_a_corrupt_store_file_fails_only_its_requests(ray_server):
    client = ray_server.client()
    plan = [BROKEN, store_name(3), BROKEN, "summ", store_name(4), BROKEN, store_name(3)]
    statuses = []
    for name in plan:
        try:
            complete(client, name)
            statuses.append(200)
        except openai.APIStatusError as e:
            statuses.append(e.status_code)
            assert "not a usable prefix" in e.message
    assert statuses == [400 if name == BROKEN else 200 for name in plan]
    with pytest.raises(openai.NotFoundError):
        complete(client, "no-such-prefix")
    with ThreadPoolExecutor(2) as pool:  # both replicas still serve
        assert all(r.choices for r, _ in pool.map(lambda n: complete(client, n), [store_name(5)] * 6))
