"""P-Tuning v2: the folded prefix encoder equals upstream's get_prompt, as values and as the model's cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_models import NEW_FAMILIES
from torch import nn
from upstream_prefix import PTuningV2Model, assert_same_kv, assert_same_logits, hf_model, save_checkpoint

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.importers import detect_kind, load_prefix_source, ptuning_v2
from prefixdeploy.runtime.prefix import ModelFacts

P = 5
IDS = [5, 17, 42, 8, 99, 3]


def make_ptuned(model_dir: Path, projection: bool, seed: int = 0) -> PTuningV2Model:
    model, facts = hf_model(model_dir)
    torch.manual_seed(seed)
    return PTuningV2Model(model, facts, P, projection).eval()


def config_for(model_dir: Path, projection: bool, **extras) -> dict:
    """The base model's config.json plus what P-Tuning v2 adds to it."""
    config = json.loads((model_dir / "config.json").read_text())
    return {**config, "pre_seq_len": P, "prefix_projection": projection, "prefix_hidden_size": 24, **extras}


def chatglm_style(ptuned: PTuningV2Model) -> dict[str, torch.Tensor]:
    """ChatGLM keeps the encoder inside `transformer` and saves only it: `transformer.prefix_encoder.*`."""
    outer = nn.Module()
    outer.transformer = nn.Module()
    outer.transformer.prefix_encoder = ptuned.prefix_encoder
    return outer.state_dict()


@pytest.mark.parametrize("projection", [False, True])
def test_thudm_full_model_save_matches_upstream(projection, tiny_model_dir, tmp_path):
    """gpt2: the whole model (base weights and encoder) in pytorch_model.bin, as THUDM's trainer saves it."""
    model_dir = tiny_model_dir("gpt2")
    model, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection)
    state = ptuned.state_dict()
    assert any(k.startswith("base_model.") for k in state) and "prefix_encoder.embedding.weight" in state
    target = save_checkpoint(state, config_for(model_dir, projection), tmp_path / "run" / "pytorch_model.bin")
    assert detect_kind(target.parent) == "ptuning_v2"
    prefix = load_prefix_source(target.parent, facts, "ner")
    assert prefix.num_virtual_tokens == P
    assert_same_kv(prefix, ptuned.get_prompt())
    assert_same_logits(model, prefix, ptuned.get_prompt(), IDS)


@pytest.mark.parametrize("projection", [False, True])
def test_chatglm_style_encoder_for_gqa_llama_matches_upstream(projection, tiny_model_dir, tmp_path):
    """llama with 2 kv heads of 4: the encoder sized by kv groups, saved alone under `transformer.prefix_encoder.`."""
    model_dir = tiny_model_dir("llama")
    model, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection)
    config = config_for(model_dir, projection)
    target = save_checkpoint(chatglm_style(ptuned), config, tmp_path / "run" / "model.safetensors")
    prefix = load_prefix_source(target.parent, facts, "chat")
    assert prefix.key.shape == (2, 2, P, 16)
    assert_same_kv(prefix, ptuned.get_prompt())
    assert_same_logits(model, prefix, ptuned.get_prompt(), IDS)


def test_weights_file_given_directly(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llama")
    _, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection=True)
    target = save_checkpoint(chatglm_style(ptuned), None, tmp_path / "prefix_encoder.bin")
    assert detect_kind(target) == "ptuning_v2"
    assert_same_kv(ptuning_v2.load(target, facts, "chat"), ptuned.get_prompt())


def test_sharded_save_reads_only_the_shard_with_the_encoder(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection=True)
    state = ptuned.state_dict()
    encoder = {k: v for k, v in state.items() if k.startswith("prefix_encoder.")}
    base = {k: v for k, v in state.items() if k not in encoder}
    run = tmp_path / "run"
    save_checkpoint(base, None, run / "model-00001-of-00002.safetensors")
    save_checkpoint(encoder, config_for(model_dir, True), run / "model-00002-of-00002.safetensors")
    weight_map = {k: "model-00001-of-00002.safetensors" for k in base}
    weight_map |= {k: "model-00002-of-00002.safetensors" for k in encoder}
    (run / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (run / "model-00001-of-00002.safetensors").write_bytes(b"not read")  # proves the base shard is left alone
    assert_same_kv(load_prefix_source(run, facts, "ner"), ptuned.get_prompt())


def test_config_that_does_not_fit_the_weights_is_refused(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection=False)
    target = tmp_path / "run" / "pytorch_model.bin"
    save_checkpoint(ptuned.state_dict(), config_for(model_dir, False, pre_seq_len=P + 1), target)
    with pytest.raises(PrefixSourceError, match=rf"has {P} rows .*pre_seq_len={P + 1}"):
        ptuning_v2.load(target.parent, facts, "ner")
    save_checkpoint(ptuned.state_dict(), config_for(model_dir, True), target)
    with pytest.raises(PrefixSourceError, match="prefix_projection but .* no prefix_encoder.trans"):
        ptuning_v2.load(target.parent, facts, "ner")


def test_prefix_for_another_geometry_names_both_shapes(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")  # 4 kv heads of 16; the llama below has 2
    llama = ModelFacts("llama", num_layers=2, num_key_value_heads=2, head_dim=16, hidden_size=64)
    state = make_ptuned(model_dir, projection=True).state_dict()
    target = save_checkpoint(state, config_for(model_dir, True), tmp_path / "run" / "model.safetensors")
    with pytest.raises(PrefixMismatchError, match=r"2 layers × 4 kv heads × 16.*2 layers × 2 kv heads × 16"):
        load_prefix_source(target.parent, llama, "ner")
    (target.parent / "config.json").unlink()  # without the config only the width can tell
    with pytest.raises(PrefixMismatchError, match=r"256 values per virtual token.*= 128"):
        load_prefix_source(target.parent, llama, "ner")


def test_truncated_weights_are_refused_in_one_line(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llama")
    _, facts = hf_model(model_dir)
    state = chatglm_style(make_ptuned(model_dir, projection=True))
    for name in ("pytorch_model.bin", "model.safetensors"):
        target = save_checkpoint(state, None, tmp_path / name / name)
        data = target.read_bytes()
        target.write_bytes(data[: len(data) - 64])
        with pytest.raises(PrefixSourceError) as e:
            ptuning_v2.load(target, facts, "chat")
        assert "\n" not in str(e.value) and str(target) in str(e.value)


def test_matches_only_prefix_encoder_weights(tiny_model_dir, peft_adapter, tmp_path):
    chatglm_base = tmp_path / "chatglm"  # ChatGLM configs carry pre_seq_len: null when not p-tuned
    save_checkpoint(
        {"transformer.embedding.weight": torch.zeros(4, 4)}, {"pre_seq_len": None}, chatglm_base / "pytorch_model.bin"
    )
    (tmp_path / "notes.txt").write_text("prefix_encoder.embedding.weight")
    unrelated = [tiny_model_dir("llama"), peft_adapter("llama", 4), chatglm_base, tmp_path / "notes.txt"]
    assert not any(ptuning_v2.matches(p) for p in unrelated + [tmp_path / "missing"])


def test_bf16_safetensors_reads_like_the_bin(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("llama")
    _, facts = hf_model(model_dir)
    state = {k: v.to(torch.bfloat16) for k, v in chatglm_style(make_ptuned(model_dir, projection=True)).items()}
    st = save_checkpoint(state, None, tmp_path / "prefix_encoder.safetensors")
    binary = save_checkpoint(state, None, tmp_path / "prefix_encoder.bin")
    np.testing.assert_array_equal(ptuning_v2.load(st, facts, "c").value, ptuning_v2.load(binary, facts, "c").value)


@pytest.mark.parametrize("kind", NEW_FAMILIES)
def test_the_flat_layout_applies_to_the_new_families(kind, tiny_model_dir, tmp_path):
    """The encoder is sized by layers × kv heads × head_dim, not hidden/heads (Qwen3 and Gemma: head_dim 32 of 64)."""
    model_dir = tiny_model_dir(kind)
    model, facts = hf_model(model_dir)
    ptuned = make_ptuned(model_dir, projection=True)
    config = config_for(model_dir, projection=True)
    target = save_checkpoint(chatglm_style(ptuned), config, tmp_path / "run" / "model.safetensors")
    prefix = load_prefix_source(target.parent, facts, "task")
    assert prefix.key.shape == (facts.num_layers, facts.num_key_value_heads, P, facts.head_dim)
    assert_same_kv(prefix, ptuned.get_prompt())
    assert_same_logits(model, prefix, ptuned.get_prompt(), IDS)
