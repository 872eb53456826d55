"""Prefixes made from text: generating with one equals generating with the text's ids before the prompt's.

On the tiny model of every family and on SmolLM2-135M-Instruct (slow), both graphs (the ONNX Runtime variant's
in-place cache and the portable graph), with and without `on`: logits within 1e-4 at every step and identical greedy
tokens. Also the chat system-turn split (the stored system message, then the user turn, equal the whole
conversation as transformers renders it), tokenization after a text prefix (no second BOS), and one-line errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_models import FAMILIES
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.prefix import SYSTEM_TURN, TEXT, VIRTUAL, load_prefix
from prefixdeploy.runtime.text_prefix import prefix_from_text, text_ids
from prefixdeploy.runtime.tokenizer import TextCodec

ATOL = 1e-4
GREEDY = GenerationConfig(max_new_tokens=16, ignore_eos=True)
TEXT_BLOCK = "Question: what is the capital of France? Answer: Paris. Once upon a time"
PROMPT = "the quick brown fox"
GRAPHS = ("model.ort.fp32.onnx", "model.onnx")


def run(bundle, ids: list[int], prefix: str | None) -> tuple[list[int], np.ndarray]:
    steps = list(bundle.steps([ids], [prefix], GREEDY))
    return [int(s.tokens[0]) for s in steps], np.stack([s.logits[0] for s in steps])  # (N,), (N, V)


def assert_same_generation(got, want):
    assert got[0] == want[0]
    np.testing.assert_allclose(got[1], want[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("on", [None, "qa"])
@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("kind", FAMILIES)
def test_text_prefix_equals_the_text_in_the_prompt(tiny_bundle, kind, graph, on):
    with load_bundle(tiny_bundle("switchable", kind), graph=graph) as bundle:
        prefix = prefix_from_text(bundle, TEXT_BLOCK, name="story", on=on)
        bundle.add_prefix(prefix)
        head = text_ids(bundle, TEXT_BLOCK, on=on)
        old = bundle.prefixes[on].num_virtual_tokens if on else 0
        assert prefix.num_virtual_tokens == old + len(head) and prefix.ends_with == TEXT
        prompt = bundle.encode(PROMPT, prefix="story")
        stored = run(bundle, prompt, "story")
        assert_same_generation(stored, run(bundle, head + prompt, on))
        assert stored[0] != run(bundle, prompt, on)[0]  # the text matters


@pytest.mark.parametrize("graph", GRAPHS)
def test_chat_system_prefix_then_user_turn_equals_the_whole_conversation(tiny_bundle, tiny_model_dir, graph):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir("llama"))
    system, user = "You answer in one short sentence.", "hello world, how are you today?"
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    whole = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    whole_ids = tok(whole, add_special_tokens=False).input_ids
    with load_bundle(tiny_bundle("switchable"), graph=graph) as bundle:
        for on in (None, "summ"):
            prefix = prefix_from_text(bundle, system, name="sys", on=on, chat_system=True)
            bundle.prefixes.pop("sys", None)
            bundle.add_prefix(prefix)
            assert prefix.ends_with == SYSTEM_TURN
            user_ids = bundle.encode(user, chat=True, prefix="sys")
            assert text_ids(bundle, system, chat_system=True) + user_ids == whole_ids
            assert_same_generation(run(bundle, user_ids, "sys"), run(bundle, whole_ids, on))


def test_a_prompt_after_text_gets_no_second_bos(tiny_bundle, tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.processors import TemplateProcessing

    tok = Tokenizer.from_file(str(tiny_bundle("switchable") / "tokenizer.json"))
    tok.post_processor = TemplateProcessing(single="<s> $A", special_tokens=[("<s>", tok.token_to_id("<s>"))])
    tok.save(str(tmp_path / "tokenizer.json"))
    codec = TextCodec(tmp_path / "tokenizer.json", None)
    bos = tok.token_to_id("<s>")
    assert codec.encode("hello", after=VIRTUAL)[0] == bos  # a sequence start, as after a learned prefix
    assert codec.encode("hello", after=TEXT) == codec.encode("hello", after=VIRTUAL)[1:]  # continues the text


def test_prefix_from_text_refuses_what_it_cannot_do(tiny_bundle):
    with load_bundle(tiny_bundle("baked")) as baked:
        with pytest.raises(PrefixDeployError, match="switchable bundle; this one is baked"):
            prefix_from_text(baked, TEXT_BLOCK, name="x")
    with load_bundle(tiny_bundle("switchable")) as bundle:
        with pytest.raises(PrefixDeployError, match="the text is empty"):
            prefix_from_text(bundle, "  \n", name="x")
        with pytest.raises(ContextLengthError, match="leaves no room .* context of 128"):
            prefix_from_text(bundle, list(range(3, 125)), name="x", on="qa")
        with pytest.raises(PrefixDeployError, match="unknown prefix 'nope'"):
            prefix_from_text(bundle, TEXT_BLOCK, name="x", on="nope")
        bundle.add_prefix(prefix_from_text(bundle, "Be brief.", name="sys", chat_system=True))
        with pytest.raises(PrefixDeployError, match="already ends with a system message"):
            prefix_from_text(bundle, "Be long.", name="x", on="sys", chat_system=True)


def test_cli_writes_the_file_and_adds_it(tiny_bundle, tmp_path):
    import shutil

    bundle = shutil.copytree(tiny_bundle("switchable"), tmp_path / "bundle")
    (tmp_path / "t.txt").write_text(TEXT_BLOCK)
    args = ["prefix-from-text", str(bundle), "--text", str(tmp_path / "t.txt"), "--name", "story", "--on", "qa"]
    result = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "story.safetensors"), "--add"])
    assert result.exit_code == 0, result.output
    saved = load_prefix(tmp_path / "story.safetensors")
    assert saved.ends_with == TEXT and "on 'qa'" in saved.source
    with load_bundle(bundle) as loaded:  # hashes checked
        np.testing.assert_array_equal(loaded.prefixes["story"].key, saved.key)
        want = prefix_from_text(loaded, TEXT_BLOCK, name="again", on="qa")
        np.testing.assert_array_equal(saved.value, want.value)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ((), "give --output, --add, or both"),
        (("--add", "--on", "nope"), "unknown prefix 'nope'"),
        (("--add", "--name", "qa"), "already has a prefix named 'qa'"),
        (("--add", "--name", "bad/name"), "prefix name 'bad/name' is not valid"),
    ],
)
def test_cli_errors_are_one_line(tiny_bundle, tmp_path, extra, needle):
    (tmp_path / "t.txt").write_text(TEXT_BLOCK)
    args = ["prefix-from-text", str(tiny_bundle("switchable")), "--text", str(tmp_path / "t.txt"), "--name", "x"]
    result = CliRunner().invoke(main, [*args, *extra])
    assert_user_error(result.exit_code, result.stderr, needle)


def test_cli_baked_bundle_is_a_one_line_error(tiny_bundle, tmp_path):
    (tmp_path / "t.txt").write_text(TEXT_BLOCK)
    args = ["prefix-from-text", str(tiny_bundle("baked")), "--text", str(tmp_path / "t.txt"), "--name", "x", "--add"]
    result = CliRunner().invoke(main, args)
    assert_user_error(result.exit_code, result.stderr, "baked")


# -- the real SmolLM2-135M-Instruct (slow): an instruction block, and a chat system message -----------------------

INSTRUCTIONS = (
    "Read the review below and answer with one word, positive or negative, followed by the reason in a short "
    "sentence. Reviews may be sarcastic; judge what the writer means, not the words alone.\n\n"
)
SYSTEM = "You are a terse assistant. Answer in at most ten words."
USER = "What is the capital of France?"


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    import torch
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
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    bundle = export_bundle(ExportConfig(str(model_dir), (str(out / "demo"),), out / "bundle"))
    return bundle, AutoTokenizer.from_pretrained(model_dir)


@pytest.mark.slow
@pytest.mark.parametrize("on", [None, "demo"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_smollm2_instruction_block_as_prefix(smol, graph, on):
    with load_bundle(smol[0], graph=graph) as bundle:
        bundle.add_prefix(prefix_from_text(bundle, INSTRUCTIONS, name="instr", on=on))
        prompt = bundle.encode("Review: the battery died after two days. Great job.", prefix="instr")
        assert_same_generation(
            run(bundle, prompt, "instr"), run(bundle, text_ids(bundle, INSTRUCTIONS, on=on) + prompt, on)
        )


@pytest.mark.slow
@pytest.mark.parametrize("on", [None, "demo"])
@pytest.mark.parametrize("graph", GRAPHS)
def test_smollm2_system_message_as_prefix_equals_the_whole_conversation(smol, graph, on):
    bundle_dir, tok = smol
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}]
    whole = tok(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True), add_special_tokens=False)
    with load_bundle(bundle_dir, graph=graph) as bundle:
        bundle.add_prefix(prefix_from_text(bundle, SYSTEM, name="sys", on=on, chat_system=True))
        user = bundle.encode(USER, chat=True, prefix="sys")
        assert text_ids(bundle, SYSTEM, chat_system=True) + user == whole.input_ids
        assert_same_generation(run(bundle, user, "sys"), run(bundle, whole.input_ids, on))
