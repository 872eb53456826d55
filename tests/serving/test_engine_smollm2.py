"""The serving engine on the real SmolLM2-135M-Instruct with the three sample prefixes: a busy, chunked batch of
mixed prefixes and no prefix returns exactly what `prefixdeploy run` returns for each request alone.

Measured (fp32, 21 requests × up to 48 tokens; 8 slots whole prefill, 8 slots 16-token chunks, 4 slots, 2 slots
7-token chunks): 0 of 84 outputs differ. Batched decoding is bit-identical to batch 1 (every op is row-local and
sums over the row's own length); chunked prefill changes logprobs by ~1e-6, which would flip a greedy token only at a
near-tie of the top two logits.
"""

from __future__ import annotations

import asyncio

import pytest
from engine_cases import serving, single, submit_staggered
from repo_root import ROOT

from prefixdeploy.runtime.bundle import load_bundle

pytestmark = pytest.mark.slow

TASKS = ("sentiment", "extract", "e2e")
INPUTS = {
    "sentiment": ("The Solvik dehumidifier stopped working after four days.", "This Arbor ukulele sounds lovely."),
    "extract": ("Yesterday Ingrid Solberg took the night train to Trondheim.", "Mateo Alvarez opened a bakery."),
    "e2e": ("name[The Copper Lantern], eatType[pub], food[Indian]", "name[Blue Fig], eatType[coffee shop]"),
}
N_NEW = 24


@pytest.fixture(scope="module")
def smol_bundle(tmp_path_factory):
    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    prefixes = tuple(str(ROOT / "samples" / task / f"{task}.safetensors") for task in TASKS)
    out = tmp_path_factory.mktemp("smollm2-serving") / "bundle"
    return export_bundle(ExportConfig(str(fetch_smollm2_dir()), prefixes, out))


def test_busy_chunked_batch_on_smollm2_equals_run(smol_bundle):
    with load_bundle(smol_bundle) as b:
        cases = [(b.encode(text), task, N_NEW) for task, texts in INPUTS.items() for text in texts]
        cases += [(b.encode(text, chat=True), None, N_NEW) for text in ("Name three fruits.", "What is rain?")]
        want = [single(b, ids, name, n) for ids, name, n in cases]
        with serving(b, max_num_seqs=4, max_prefill_tokens=16, max_model_len=256) as engine:
            got = asyncio.run(submit_staggered(engine, b, cases, {"temperature": 0.0}))
    assert [tokens for tokens, _, _ in got] == want
