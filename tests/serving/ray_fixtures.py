"""A real local Ray (2 CPUs, no dashboard, small object store, loopback only) serving the tiny bundle on 2 replicas
with a prefix store of 50 prefixes and a corrupt file: a pytest plugin (loaded by tests/conftest.py), one per
session, always shut down. Clients talk to Ray's HTTP proxy on 127.0.0.1 with the `openai` package."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import openai
import pytest

from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import read_manifest
from prefixdeploy.runtime.prefix import Prefix, load_prefix, save_prefix

STORE_SIZE = 50
MAX_PREFIXES_PER_REPLICA = 8
MAX_ONGOING = 4  # per replica
MAX_QUEUED = 4  # in front of the replicas; more: 503 from Ray's proxy
BROKEN = "broken"  # a store file that is not a prefix
REPLICA, HELD, COUNT = "x-prefixdeploy-replica", "x-prefixdeploy-prefix-held", "x-prefixdeploy-prefixes-held"
ROUTE = "serve_multiplexed_model_id"


def store_name(i: int) -> str:
    return f"p{i:02d}"


@pytest.fixture(scope="session")
def prefix_store(served_bundle, tmp_path_factory) -> Path:
    """50 random prefixes for the tiny model (P from 2 to 6, fixed seeds) and one corrupt file."""
    store = tmp_path_factory.mktemp("prefix-store")
    model = read_manifest(served_bundle).model
    rng = np.random.default_rng(7)
    for i in range(STORE_SIZE):
        shape = (model.num_layers, model.num_key_value_heads, 2 + i % 5, model.head_dim)  # (L, H_kv, P, D)
        key, value = (rng.normal(0, 0.5, shape).astype(np.float32) for _ in range(2))
        save_prefix(Prefix(store_name(i), key, value, model), store / f"{store_name(i)}.safetensors")
    (store / f"{BROKEN}.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}" + b"\0" * 64)
    return store


@pytest.fixture(scope="session")
def store_reference(served_bundle, prefix_store):
    """store_reference(prompt, model or None, max_tokens) -> `prefixdeploy run`'s greedy ids; store prefixes too."""
    bundle = load_bundle(served_bundle)

    def get(prompt: str, model: str | None, max_tokens: int) -> list[int]:
        if model is not None and model not in bundle.prefixes:
            bundle.add_prefix(load_prefix(prefix_store / f"{model}.safetensors"))
        config = GenerationConfig(max_new_tokens=max_tokens, temperature=0.0)
        return bundle.generate_ids([bundle.encode(prompt)], [model], config)[0]

    get.decode = bundle.codec.decode
    yield get
    bundle.close()


@dataclass
class RayServer:
    url: str
    app_name: str

    def client(self, **options) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{self.url}/v1", api_key="unused", **({"max_retries": 0, "timeout": 60.0} | options)
        )

    def async_client(self, **options) -> openai.AsyncOpenAI:
        options = {"max_retries": 0, "timeout": 60.0} | options
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key="unused", **options)


@pytest.fixture(scope="session")
def ray_server(served_bundle, prefix_store):
    import ray
    from ray import serve

    from prefixdeploy.serving.scale.ray import app_builder

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=80 * 1024 * 1024,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        configure_logging=False,
    )
    try:
        port = _free_port()
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        args = {
            "bundle": str(served_bundle),
            "prefix_store": str(prefix_store),
            "replicas": "2",
            "cpus_per_replica": "0.5",
            "max_prefixes_per_replica": str(MAX_PREFIXES_PER_REPLICA),
            "max_ongoing_requests": str(MAX_ONGOING),
            "max_queued_requests": str(MAX_QUEUED),
            "max_num_seqs": str(MAX_ONGOING),
            "max_tokens_limit": "256",
        }
        serve.run(app_builder(args), name="prefixdeploy", route_prefix="/")
        yield RayServer(f"http://127.0.0.1:{port}", "prefixdeploy")
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
