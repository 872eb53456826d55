"""Prompt lookup on SmolLM2 with the sample prefixes, on the samples' test inputs: the same greedy tokens as plain
decoding, and the verified logits close to plain decoding's (reported: a forward over several tokens sums in another
order). Slow: exports SmolLM2."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from repo_root import ROOT

from prefixdeploy.bench.lookup import read_inputs
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig, generate_steps
from prefixdeploy.runtime.lookup import LookupStats

pytestmark = pytest.mark.slow
TASKS = {"extract": 40, "e2e": 64, "sentiment": 16}  # max new tokens, as the samples' evaluate.py use
INPUTS = 6


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    out = tmp_path_factory.mktemp("smollm2-lookup")
    prefixes = tuple(str(ROOT / "samples" / t / f"{t}.safetensors") for t in TASKS)
    bundle = export_bundle(ExportConfig(str(fetch_smollm2_dir()), prefixes, out / "bundle"))
    inputs = {}
    for task in TASKS:
        subprocess.run([sys.executable, ROOT / "samples" / task / "make_data.py", "--out", out / task], check=True)
        inputs[task] = read_inputs(out / task / "test.jsonl")[:INPUTS]
    return bundle, inputs


def _run(bundle, ids, task, config, stats=None):
    steps = list(generate_steps(bundle.backend, bundle.manifest, [ids], [bundle.resolve(task)], config, True, stats))
    return [int(s.tokens[0]) for s in steps], np.stack([s.logits[0] for s in steps])


@pytest.mark.parametrize("task", TASKS)
def test_lookup_equals_plain_greedy_on_the_samples(smol, task):
    path, inputs = smol
    stats, worst = LookupStats(), 0.0
    with load_bundle(path) as bundle:
        for text in inputs[task]:
            ids = bundle.encode(text, prefix=task)
            plain = _run(bundle, ids, task, GenerationConfig(max_new_tokens=TASKS[task]))
            looked = _run(bundle, ids, task, GenerationConfig(max_new_tokens=TASKS[task], prompt_lookup=10), stats)
            assert looked[0] == plain[0]
            worst = max(worst, float(np.abs(looked[1] - plain[1]).max()))
    print(f"{task}: acceptance {stats.acceptance:.0%} of {stats.drafted}; max |Δ logits| {worst:.2e}")
    assert worst <= 1e-4  # measured 5.6e-5 (extract), 4.9e-5 (e2e), 0 (sentiment: no draft accepted)
    if task != "sentiment":
        assert stats.accepted > 0
