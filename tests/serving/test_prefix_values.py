"""Prefixes whose values are finite but absurd (issue 20, item 4): refused at load above a magnitude bound; where one
is served anyway (a bundle's own), its non-finite logits fail only its requests with a clear error, and no response
ever carries NaN or Infinity (which is not JSON)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from server_process import running_server

from prefixdeploy.runtime.bundle_prefixes import add_prefix
from prefixdeploy.runtime.prefix import MAX_PREFIX_MAGNITUDE, Prefix, load_prefix, save_prefix

LONG = {"prompt": "once upon a time", "max_tokens": 8, "temperature": 0, "ignore_eos": True}


def filled(source: Prefix, name: str, value: float) -> Prefix:
    """`source`'s geometry with every key and value set to `value`."""
    key = np.full_like(source.key, value)
    return Prefix(name=name, key=key, value=key.copy(), model=source.model)


def strict_json(text: str):
    """json.loads that refuses NaN and Infinity, as every JSON parser but Python's does."""
    return json.loads(text, parse_constant=lambda word: pytest.fail(f"{word} in a response: {text[:200]}"))


def test_the_bound_sits_far_above_real_prefixes_and_below_fp16(served_bundle):
    """Trained prefixes (the samples: SmolLM2, |x| ≤ 3.8) and the tests' PEFT prefixes sit far below the bound; an
    fp16 KV cache overflows at 65504, above it."""
    from server_process import ROOT

    files = [*(ROOT / "samples").glob("*/*.safetensors"), *(served_bundle / "prefixes").glob("*.safetensors")]
    assert len(files) >= 5
    for file in files:
        prefix = load_prefix(file)
        assert max(np.abs(prefix.key).max(), np.abs(prefix.value).max()) < MAX_PREFIX_MAGNITUDE / 100, file
    assert MAX_PREFIX_MAGNITUDE < np.finfo(np.float16).max


def test_implausible_magnitudes_are_refused_at_load(server, served_bundle, runtime_dir):
    summ = load_prefix(served_bundle / "prefixes" / "summ.safetensors")
    with server.http() as http:
        for value in (3e38, 2 * MAX_PREFIX_MAGNITUDE, -2 * MAX_PREFIX_MAGNITUDE):
            save_prefix(filled(summ, "big", value), runtime_dir / "big.safetensors")
            error = http.post("/v1/prefixes", json={"name": "big", "file": "big.safetensors"}).json()["error"]
            assert error["param"] == "file" and f"{MAX_PREFIX_MAGNITUDE:g}" in error["message"], error
        save_prefix(filled(summ, "plausible", 100.0), runtime_dir / "plausible.safetensors")
        loaded = http.post("/v1/prefixes", json={"name": "plausible", "file": "plausible.safetensors"})
        assert loaded.status_code == 200, loaded.text
        assert http.delete("/v1/prefixes/plausible").status_code == 200


@pytest.fixture(scope="module")
def huge_bundle(served_bundle, tmp_path_factory):
    """The tiny bundle plus a prefix 'huge' of 3e38 everywhere (a bundle's own prefixes are its operator's)."""
    bundle = tmp_path_factory.mktemp("huge") / "bundle"
    shutil.copytree(served_bundle, bundle)
    add_prefix(bundle, filled(load_prefix(bundle / "prefixes" / "summ.safetensors"), "huge", 3e38))
    return bundle


def test_non_finite_logits_fail_only_their_request_and_no_nan_is_sent(huge_bundle):
    with running_server(huge_bundle) as server, server.http() as http:
        for body in ({"model": "huge", **LONG}, {"model": "huge", "logprobs": 2, **LONG}):
            failed = http.post("/v1/completions", json=body)
            error = strict_json(failed.text)["error"]
            assert (failed.status_code, error["code"]) == (500, "non_finite_logits"), failed.text
            assert "huge" in error["message"]
        streamed = http.post("/v1/completions", json={"model": "huge", "stream": True, "logprobs": 2, **LONG}).text
        events = [strict_json(e.removeprefix("data: ")) for e in streamed.strip().split("\n\n")]
        assert events[-1]["error"]["code"] == "non_finite_logits"
        fine = http.post("/v1/completions", json={"model": "summ", "logprobs": 2, **LONG})
        assert fine.status_code == 200 and len(strict_json(fine.text)["choices"][0]["logprobs"]["tokens"]) == 8
    assert "Traceback" not in "".join(server.log)
