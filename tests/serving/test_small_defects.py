"""The smaller defects of issue 20 (item 6), one test each, against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
from urllib.parse import urlsplit

import numpy as np
import pytest
from server_process import KEY, running_server, wait_until

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.prefix import Prefix, check_prefix_name, load_prefix, save_prefix
from prefixdeploy.serving.http.errors import APIError


@pytest.fixture(scope="module")
def summ(served_bundle) -> Prefix:
    return load_prefix(served_bundle / "prefixes" / "summ.safetensors")


def load(server, name: str, file: str):
    with server.http() as http:
        return http.post("/v1/prefixes", json={"name": name, "file": file})


def test_a_5000_character_file_name_is_400(server):
    response = load(server, "long-name", "a" * 5000 + ".safetensors")
    assert response.status_code == 400 and response.json()["error"]["param"] == "file", response.text


def test_a_client_dropping_mid_upload_is_not_an_internal_error(server):
    parts = urlsplit(server.url)
    rejected = lambda: server.metric("prefixdeploy_request_rejected_total", reason="client_disconnected")  # noqa: E731
    before = rejected()
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        head = (
            b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
        )
        sock.sendall(head + b'{"model": "summ", "prompt": "' + b"x" * 5000)
    assert wait_until(lambda: rejected() > before)
    log = "".join(server.log)
    assert "Traceback" not in log and "internal error" not in log


@pytest.mark.parametrize("name", ["abc\n", "abc\r\n", "\nabc"])
def test_prefix_names_must_match_whole(server, summ, runtime_dir, name):
    save_prefix(summ.renamed("newline"), runtime_dir / "newline.safetensors")
    response = load(server, name, "newline.safetensors")
    assert response.status_code == 400 and response.json()["error"]["param"] == "name", response.text
    with pytest.raises(PrefixDeployError):
        check_prefix_name(name)


def test_errors_name_files_as_the_client_did_and_never_show_python_internals(server, summ, runtime_dir):
    from safetensors.numpy import save_file

    (runtime_dir / "sub").mkdir(exist_ok=True)
    tensors = {"key": summ.key, "value": summ.value}
    save_file(
        tensors, str(runtime_dir / "sub" / "null-model.safetensors"), {"format": "prefixdeploy.prefix", "model": "null"}
    )
    save_file(tensors, str(runtime_dir / "sub" / "no-model.safetensors"), {"format": "prefixdeploy.prefix"})
    (runtime_dir / "sub" / "garbage.safetensors").write_bytes(b"\x13\x37" * 64)
    for file in ("sub/null-model.safetensors", "sub/no-model.safetensors", "sub/garbage.safetensors"):
        error = load(server, "internals", file).json()["error"]
        assert error["param"] == "file" and file in error["message"], error
        for leak in (str(runtime_dir), "NoneType", "subscriptable", "KeyError", "Errno"):
            assert leak not in error["message"], (leak, error["message"])


def test_runtime_prefixes_must_leave_room_in_the_servers_slots(served_bundle, summ, runtime_dir):
    def of_length(P: int) -> Prefix:
        shape = (*summ.key.shape[:2], P, summ.key.shape[3])
        return Prefix(
            name=f"p{P}", key=np.zeros(shape, np.float32), value=np.zeros(shape, np.float32), model=summ.model
        )

    for P in (63, 62):
        save_prefix(of_length(P), runtime_dir / f"room-{P}.safetensors")
    args = ("--allow-runtime-prefixes", str(runtime_dir), "--max-model-len", "64")
    with running_server(served_bundle, *args) as server, server.http() as http:
        full = load(server, "room63", "room-63.safetensors")
        assert full.status_code == 400 and "64" in full.json()["error"]["message"], full.text
        assert load(server, "room62", "room-62.safetensors").status_code == 200
        one = http.post("/v1/completions", json={"model": "room62", "prompt": [5], "max_tokens": 1})
        assert one.status_code == 200, one.text


def test_a_subnormal_temperature_samples_like_greedy(server):
    body = {
        "model": "summ",
        "prompt": "once upon a time",
        "max_tokens": 12,
        "ignore_eos": True,
        "return_token_ids": True,
    }
    with server.http() as http:
        greedy = http.post("/v1/completions", json=body | {"temperature": 0}).json()["choices"][0]["token_ids"]
        for temperature in (5e-324, 1e-300, 1e-9):
            tiny = http.post("/v1/completions", json=body | {"temperature": temperature, "seed": 1})
            assert tiny.json()["choices"][0]["token_ids"] == greedy, temperature


def test_exposed_or_loading_servers_without_keys_warn(served_bundle, runtime_dir):
    from prefixdeploy.serving.http.config import ServeConfig
    from prefixdeploy.serving.http.server import security_warnings

    assert security_warnings(ServeConfig(bundle=served_bundle)) == []
    assert security_warnings(ServeConfig(bundle=served_bundle, host="::1", api_keys=("k",))) == []
    exposed = security_warnings(ServeConfig(bundle=served_bundle, host="0.0.0.0"))
    assert len(exposed) == 1 and "0.0.0.0" in exposed[0] and "--api-key" in exposed[0]
    loading = security_warnings(ServeConfig(bundle=served_bundle, allow_runtime_prefixes=runtime_dir, api_keys=("k",)))
    assert len(loading) == 1 and "--admin-key" in loading[0]
    with running_server(served_bundle, "--allow-runtime-prefixes", str(runtime_dir), key=None) as server:
        assert any("--allow-runtime-prefixes" in line and "WARNING" in line for line in server.log), server.log


def test_a_trailing_slash_is_a_404_envelope_not_a_redirect(server):
    with server.http() as http:
        response = http.post("/v1/completions/", json={"model": "summ", "prompt": "hi"}, follow_redirects=False)
    assert response.status_code == 404 and "location" not in response.headers
    assert response.json()["error"]["type"] == "not_found_error"


def test_the_ray_prefix_store_does_not_follow_a_symlink_out_of_the_store(served_bundle, summ, tmp_path):
    from prefixdeploy.serving.http.registry import RuntimeLimits
    from prefixdeploy.serving.scale.prefix_store import HeldPrefix, StorePrefixes

    store, outside = tmp_path / "store", tmp_path / "outside"
    store.mkdir(), outside.mkdir()
    save_prefix(summ.renamed("secret"), outside / "secret.safetensors")
    save_prefix(summ.renamed("inside"), store / "inside.safetensors")
    os.symlink(outside / "secret.safetensors", store / "evil.safetensors")
    os.symlink(store / "inside.safetensors", store / "alias.safetensors")  # inside the store: fine
    bundle = load_bundle(served_bundle)
    registry: StorePrefixes | None = None

    async def load_store_prefix(name: str) -> HeldPrefix:
        return HeldPrefix(registry.read(name), registry.held)

    registry = StorePrefixes(bundle, "base", store, load_store_prefix, RuntimeLimits(max_model_len=128))
    try:
        assert registry.stored_names() == ["alias", "inside"]
        with pytest.raises(APIError) as refused:
            asyncio.run(registry.lookup("evil"))
        assert refused.value.status == 404
        assert asyncio.run(registry.lookup("alias")).num_virtual_tokens == summ.num_virtual_tokens
    finally:
        bundle.close()
