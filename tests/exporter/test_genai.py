"""ONNX Runtime GenAI loads a baked single-prefix bundle folder unchanged and generates *with* the prefix.

The real `onnxruntime_genai` package sees a plain decoder (genai_config.json, model.onnx, tokenizer.json) and is never
told about the prefix. Its greedy tokens must equal prefixdeploy's runtime on the same bundle and the PyTorch reference
with the prefix, and differ from the model without it.

EOS: GenAI stops once it generates an EOS, and its `min_length` would mask EOS (changing the tokens rather than
ignoring the stop), while our runtime and the reference run with EOS ignored. So each comparison first asserts that
the reference makes no EOS in its N_NEW tokens for the fixed prompt: then all three must give exactly N_NEW tokens.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from tiny_models import FAMILIES, NEW_FAMILIES, tiny_tokenizer

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.exporter.genai import GENAI_CONFIG
from prefixdeploy.exporter.reference import reference_greedy
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.prefix import Prefix, save_prefix

og = pytest.importorskip("onnxruntime_genai")

P = 5
N_NEW = 32
GREEDY = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True)
PROMPTS = ("the quick brown fox", "hello world, how are you today? prefix tuning")
TEXTS = ("the quick brown fox", "  two  spaces,\ttab\nnewline", "Émojis 🤖 ünïcödé 数字 123", "<s>hello</s> world")


@dataclass
class Baked:
    path: Path
    bundle: Bundle  # prefixdeploy's own runtime on the bundle
    genai: object  # og.Model on the same folder
    hf: object  # the frozen HF model, for the PyTorch reference

    @property
    def prefix(self) -> Prefix:
        return self.bundle.resolve(None)


@pytest.fixture(scope="module", params=FAMILIES + NEW_FAMILIES)
def baked(request, tiny_model_dir, peft_adapter, tmp_path_factory):
    """A tiny model of each family baked with one PEFT prefix (P=5), loaded by prefixdeploy, GenAI and transformers."""
    from transformers import AutoModelForCausalLM

    kind = request.param
    model_dir = tiny_model_dir(kind)
    out = tmp_path_factory.mktemp(f"genai-{kind}") / "bundle"
    path = export_bundle(ExportConfig(str(model_dir), (str(peft_adapter(kind, P)),), out, mode="baked"))
    hf = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    with load_bundle(path) as bundle:
        yield Baked(path, bundle, og.Model(str(path)), hf)


def genai_greedy(model, prompt_ids: list[int]) -> list[int]:
    """GenAI's greedy new tokens for one prompt: N_NEW of them, or fewer if it generates an EOS (kept, last)."""
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt_ids) + N_NEW, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt_ids)
    while not generator.is_done():
        generator.generate_next_token()
    return generator.get_sequence(0)[len(prompt_ids) :].tolist()


def assert_genai_generates_with_prefix(baked: Baked, prompt_ids: list[int]) -> None:
    reference, _ = reference_greedy(baked.hf, baked.prefix, prompt_ids, N_NEW)
    eos = baked.bundle.manifest.eos_token_ids
    assert not set(reference) & set(eos), f"fixture: pick another prompt, this one reaches EOS {eos}: {reference}"
    ours = baked.bundle.generate_ids([prompt_ids], [None], GREEDY)[0]
    genai = genai_greedy(baked.genai, prompt_ids)
    assert genai == ours == reference
    without_prefix, _ = reference_greedy(baked.hf, None, prompt_ids, N_NEW)
    assert genai != without_prefix, "GenAI's tokens are those of the model without the prefix"


# -- the graph and genai_config.json --------------------------------------------------------------------------------


def test_baked_graph_has_the_plain_decoder_io_that_genai_config_names(baked):
    """No prefix input or prefix-sized KV: the I/O are the usual decoder names, and genai_config.json names them."""
    config = json.loads((baked.path / GENAI_CONFIG).read_text())
    decoder = config["model"]["decoder"]
    graph = onnx.load(str(baked.path / decoder["filename"]), load_external_data=False).graph
    layers = range(decoder["num_hidden_layers"])
    inputs, outputs = decoder["inputs"], decoder["outputs"]

    kv_in = [f"past_key_values.{i}.{part}" for i in layers for part in ("key", "value")]
    kv_out = [f"present.{i}.{part}" for i in layers for part in ("key", "value")]
    assert [x.name for x in graph.input] == ["input_ids", "attention_mask", "position_ids", *kv_in]
    assert [x.name for x in graph.output] == ["logits", *kv_out]
    named = [inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"], outputs["logits"]]
    assert named == ["input_ids", "attention_mask", "position_ids", "logits"]
    named_in = [inputs[f"past_{part}_names"] % i for i in layers for part in ("key", "value")]
    named_out = [outputs[f"present_{part}_names"] % i for i in layers for part in ("key", "value")]
    assert (named_in, named_out) == (kv_in, kv_out)

    dims = [d.dim_value or d.dim_param for d in graph.input[3].type.tensor_type.shape.dim]  # past_key_values.0.key
    assert dims == ["batch_size", decoder["num_key_value_heads"], "past_sequence_length", decoder["head_size"]]
    # The portable graph concatenates past and new keys; GenAI must not hand it a max-length shared buffer.
    assert config["search"]["past_present_share_buffer"] is False
    assert config["model"]["context_length"] == baked.bundle.manifest.max_context - P


# -- generation -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prompt", PROMPTS)
def test_genai_generates_with_the_baked_prefix(baked, prompt):
    """GenAI == prefixdeploy's runtime == PyTorch reference with the prefix, over 32 greedy tokens."""
    assert_genai_generates_with_prefix(baked, baked.bundle.encode(prompt))


def test_genai_batch_of_padded_prompts_matches_the_runtime(baked):
    """GenAI pads the shorter prompt with pad_token_id; the graph's mask and positions still give each row's tokens."""
    tokenizer = og.Tokenizer(baked.genai)
    padded = tokenizer.encode_batch(list(PROMPTS)).as_numpy()  # (B, T_max), int32
    ids = [baked.bundle.encode(p) for p in PROMPTS]
    assert [row[: len(i)].tolist() for row, i in zip(padded, ids)] == ids
    assert len({len(i) for i in ids}) == len(ids), "fixture: the prompts must differ in length to exercise padding"

    params = og.GeneratorParams(baked.genai)
    params.set_search_options(max_length=padded.shape[1] + N_NEW, do_sample=False, batch_size=len(PROMPTS))
    generator = og.Generator(baked.genai, params)
    generator.append_tokens(padded)
    while not generator.is_done():
        generator.generate_next_token()
    genai = [generator.get_sequence(r)[padded.shape[1] :].tolist() for r in range(len(PROMPTS))]
    assert genai == baked.bundle.generate_ids(ids, [None] * len(ids), GREEDY)


# -- the tokenizer --------------------------------------------------------------------------------------------------


def assert_genai_encodes_like_bundle(tokenizer, bundle: Bundle, texts) -> None:
    """og.Tokenizer, read from the bundle's files, encodes and decodes as the runtime's tokenizer.json does."""
    for text in texts:
        ids = bundle.encode(text)
        assert tokenizer.encode(text).tolist() == ids, text
        assert tokenizer.decode(ids) == bundle.codec.decode(ids), text


def assert_genai_chat_like_bundle(tokenizer, bundle: Bundle, message: str) -> None:
    """GenAI's chat template (chat_template.jinja) gives the ids of the runtime's chat wrapper rendered at export."""
    rendered = tokenizer.apply_chat_template(
        json.dumps([{"role": "user", "content": message}]), add_generation_prompt=True
    )
    assert tokenizer.encode(rendered).tolist() == bundle.encode(message, chat=True)


def test_genai_tokenizer_matches_the_bundle_tokenizer(baked):
    tokenizer = og.Tokenizer(baked.genai)
    assert_genai_encodes_like_bundle(tokenizer, baked.bundle, TEXTS)
    assert_genai_chat_like_bundle(tokenizer, baked.bundle, TEXTS[0])


def test_genai_encode_adds_bos_only_when_asked(tiny_model_dir, peft_adapter, tmp_path):
    """A Llama-style tokenizer.json whose post-processor adds BOS: GenAI's encode() adds no special tokens by default
    (onnxruntime-genai#1442: chat templates carry their own BOS), so its chat path matches as is, and plain text
    matches the runtime and HF after `update_options(add_special_tokens="true")`. No tokenizer file changes this."""
    from tokenizers import processors

    model_dir = shutil.copytree(tiny_model_dir("llama"), tmp_path / "model")
    tok = tiny_tokenizer()
    tok.backend_tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok.save_pretrained(model_dir)
    config = ExportConfig(str(model_dir), (str(peft_adapter("llama", P)),), tmp_path / "bundle", mode="baked")
    path = export_bundle(config)

    tokenizer = og.Tokenizer(og.Model(str(path)))
    with load_bundle(path) as bundle:
        ids = bundle.encode(TEXTS[0])
        assert ids[0] == 1 and tok(TEXTS[0])["input_ids"] == ids
        assert tokenizer.encode(TEXTS[0]).tolist() == ids[1:]
        assert_genai_chat_like_bundle(tokenizer, bundle, TEXTS[0])
        tokenizer.update_options(add_special_tokens="true")
        assert_genai_encodes_like_bundle(tokenizer, bundle, TEXTS)


# -- the real SmolLM2-135M-Instruct ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2(smollm2_gguf, tmp_path_factory):
    """SmolLM2 baked with a random prefix (P=5, seeded): its tokenizer is saved by transformers 5 as
    tokenizer_class "TokenizersBackend"."""
    from prefixdeploy.models.load import load_model

    loaded = load_model(str(smollm2_gguf))
    facts = loaded.facts
    shape = (facts.num_layers, facts.num_key_value_heads, P, facts.head_dim)
    rng = np.random.default_rng(0)
    prefix = Prefix("task", rng.standard_normal(shape, np.float32), rng.standard_normal(shape, np.float32), facts)
    root = tmp_path_factory.mktemp("genai-smollm2")
    save_prefix(prefix, root / "task.safetensors")
    config = ExportConfig(str(smollm2_gguf), (str(root / "task.safetensors"),), root / "bundle", mode="baked")
    path = export_bundle(config, loaded=loaded)
    with load_bundle(path) as bundle:
        yield Baked(path, bundle, og.Model(str(path)), loaded.module)


@pytest.mark.slow
def test_genai_tokenizer_matches_smollm2_bundle_tokenizer(smollm2, smollm2_gguf):
    from transformers import AutoTokenizer

    saved = json.loads((smollm2.path / "tokenizer_config.json").read_text())
    assert saved["tokenizer_class"] == "TokenizersBackend"  # transformers 5's name; GenAI 0.18 maps it to BPE
    hf = AutoTokenizer.from_pretrained(smollm2_gguf.parent, gguf_file=smollm2_gguf.name)
    texts = (*TEXTS, "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n")
    for text in texts:
        assert smollm2.bundle.encode(text) == hf(text)["input_ids"], text
    tokenizer = og.Tokenizer(smollm2.genai)
    assert_genai_encodes_like_bundle(tokenizer, smollm2.bundle, texts)
    assert_genai_chat_like_bundle(tokenizer, smollm2.bundle, "What is the capital of France?")


@pytest.mark.slow
def test_genai_generates_with_the_baked_prefix_on_smollm2(smollm2):
    assert_genai_generates_with_prefix(smollm2, smollm2.bundle.encode("What is the capital of France?", chat=True))
