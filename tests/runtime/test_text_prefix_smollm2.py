"""Prefixes from text on the real SmolLM2-135M-Instruct: a plain instruction block and a chat system message.

Generating with the stored prefix equals generating with its ids before the prompt's (after the old prefix, if any):
logits within 1e-4 at every step and identical greedy tokens, on both graphs. With the chat template, the system
message stored this way and then the user turn equal the whole conversation as transformers renders it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.text_prefix import prefix_from_text, text_ids

pytestmark = pytest.mark.slow

ATOL = 1e-4
GREEDY = GenerationConfig(max_new_tokens=24, ignore_eos=True)
GRAPHS = ("model.ort.fp32.onnx", "model.onnx")
INSTRUCTIONS = (
    "Read the review below and answer with one word, positive or negative, followed by the reason in a short "
    "sentence. Reviews may be sarcastic; judge what the writer means, not the words alone.\n\n"
)
SYSTEM = "You are a terse assistant. Answer in at most ten words."
USER = "What is the capital of France?"


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    model_dir = fetch_smollm2_dir()
    out = tmp_path_factory.mktemp("smollm2-text")
    peft = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=16),
    )
    torch.manual_seed(0)
    with torch.no_grad():
        for p in peft.prompt_encoder.parameters():
            p.normal_(0.0, 0.5)
    peft.save_pretrained(out / "demo")
    bundle = export_bundle(ExportConfig(str(model_dir), (str(out / "demo"),), out / "bundle"))
    return bundle, AutoTokenizer.from_pretrained(model_dir)


def run(bundle, ids, prefix):
    steps = list(bundle.steps([ids], [prefix], GREEDY))
    return [int(s.tokens[0]) for s in steps], np.stack([s.logits[0] for s in steps])  # (N,), (N, V)


def assert_same(got, want):
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("on", [None, "demo"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_instruction_block_as_prefix(smol, graph, on):
    with load_bundle(smol[0], graph=graph) as bundle:
        bundle.add_prefix(prefix_from_text(bundle, INSTRUCTIONS, name="instr", on=on))
        prompt = bundle.encode("Review: the battery died after two days. Great job.", prefix="instr")
        assert_same(run(bundle, prompt, "instr"), run(bundle, text_ids(bundle, INSTRUCTIONS, on=on) + prompt, on))


@pytest.mark.parametrize("on", [None, "demo"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_system_message_as_prefix_equals_the_whole_conversation(smol, graph, on):
    bundle_dir, tok = smol
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    whole = tok(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), add_special_tokens=False)
    with load_bundle(bundle_dir, graph=graph) as bundle:
        bundle.add_prefix(prefix_from_text(bundle, SYSTEM, name="sys", on=on, chat_system=True))
        user = bundle.encode(USER, chat=True, prefix="sys")
        assert text_ids(bundle, SYSTEM, chat_system=True) + user == whole.input_ids
        assert_same(run(bundle, user, "sys"), run(bundle, whole.input_ids, on))
