"""Li & Liang checkpoints: the folded prefix equals upstream's get_prompt, as values and as a GPT-2 cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from upstream_prefix import (
    LiLiangBartPrefix,
    LiLiangPrefix,
    LiLiangPrefixEmb,
    assert_same_kv,
    assert_same_logits,
    hf_model,
    save_checkpoint,
)

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.importers import detect_kind, li_liang, load_prefix_source
from prefixdeploy.runtime.prefix import ModelFacts

P = 6
IDS = [5, 17, 42, 8, 99, 3]
LLAMA_FACTS = ModelFacts("llama", num_layers=2, num_key_value_heads=2, head_dim=16, hidden_size=64)


def gpt2_config(model_dir: Path, **extras) -> dict:
    """What PrefixTuning's save_pretrained writes: the GPT-2 config plus its own fields."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model_dir).to_dict()
    return {**config, "preseqlen": P, "mid_dim": 24, "optim_prefix": True, "prefix_dropout": 0.0, **extras}


def make_prefix(model_dir: Path, mode: str = "mlp", seed: int = 0) -> LiLiangPrefix:
    model, _ = hf_model(model_dir)
    c = model.config
    torch.manual_seed(seed)
    return LiLiangPrefix(c.n_layer, c.n_head, c.n_embd, P, mode=mode).eval()


def prefixed(state: dict, key_prefix: str) -> dict:
    return {f"{key_prefix}{k}": v for k, v in state.items()}


# (where the weights go, the key prefix in front of them, whether config.json is written)
LAYOUTS = {
    "dir-bin": ("ckpt/pytorch_model.bin", "", True),
    "dir-safetensors": ("ckpt/model.safetensors", "", True),
    "bin-file": ("loose/prefix.bin", "", False),
    "model.-keys": ("ckpt/pytorch_model.bin", "model.", True),
    "prefix_model.-keys": ("ckpt/model.safetensors", "prefix_model.", True),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mlp_checkpoint_matches_upstream(layout, tiny_model_dir, tmp_path):
    where, key_prefix, with_config = LAYOUTS[layout]
    model_dir = tiny_model_dir("gpt2")
    model, facts = hf_model(model_dir)
    upstream = make_prefix(model_dir)
    target = save_checkpoint(
        prefixed(upstream.state_dict(), key_prefix), gpt2_config(model_dir) if with_config else None, tmp_path / where
    )
    source = target if layout == "bin-file" else target.parent
    assert detect_kind(source) == "li_liang"
    prefix = load_prefix_source(source, facts, "e2e")
    assert prefix.name == "e2e" and prefix.num_virtual_tokens == P
    assert_same_kv(prefix, upstream.get_prompt())
    assert_same_logits(model, prefix, upstream.get_prompt(), IDS)


@pytest.mark.parametrize("mode", ["deep", "shallow"])
def test_deep_and_shallow_variants_match_upstream(mode, tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    model, facts = hf_model(model_dir)
    upstream = make_prefix(model_dir, mode)
    config = gpt2_config(model_dir, init_shallow="yes" if mode == "shallow" else "no")
    target = save_checkpoint(upstream.state_dict(), config, tmp_path / "ckpt" / "pytorch_model.bin")
    prefix = li_liang.load(target.parent, facts, "task")
    assert_same_kv(prefix, upstream.get_prompt())
    assert_same_logits(model, prefix, upstream.get_prompt(), IDS)


def test_shallow_without_config_infers_the_length_from_the_model(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    upstream = make_prefix(model_dir, "shallow")
    target = save_checkpoint(upstream.state_dict(), None, tmp_path / "shallow.bin")
    prefix = li_liang.load(target, facts, "task")
    assert_same_kv(prefix, upstream.get_prompt())


def test_shallow_initialised_from_words_is_the_stacked_past(tiny_model_dir, tmp_path):
    """init_shallow_word stores torch.cat(GPT-2's past) = (2L, 1, H, P, hd); get_prompt_p2_shallow splits it by 2."""
    model_dir = tiny_model_dir("gpt2")
    model, facts = hf_model(model_dir)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([IDS[:P]]), use_cache=True)
    past = torch.cat([torch.stack([k, v]) for k, v, *_ in out.cache], dim=0)  # (2L, 1, H, P, hd)
    target = save_checkpoint(
        {"control_trans": past}, gpt2_config(model_dir, init_shallow="yes"), tmp_path / "ckpt" / "pytorch_model.bin"
    )
    prefix = li_liang.load(target.parent, facts, "words")
    assert_same_kv(prefix, past.split(2))


def test_infix_checkpoint_is_refused(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    state = {**make_prefix(model_dir).state_dict(), "wte2.weight": torch.zeros(P, 64)}
    target = save_checkpoint(state, gpt2_config(model_dir, use_infix=True), tmp_path / "ckpt" / "pytorch_model.bin")
    with pytest.raises(PrefixSourceError, match="infix"):
        li_liang.load(target.parent, facts, "task")


def test_prefix_for_another_geometry_names_both_shapes(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    state = make_prefix(model_dir).state_dict()
    with_config = save_checkpoint(state, gpt2_config(model_dir), tmp_path / "ckpt" / "pytorch_model.bin")
    with pytest.raises(PrefixMismatchError, match=r"2 layers × 4 kv heads × 16.*2 layers × 2 kv heads × 16"):
        load_prefix_source(with_config.parent, LLAMA_FACTS, "task")
    bare = save_checkpoint(state, None, tmp_path / "loose" / "prefix.safetensors")  # only the width can tell
    with pytest.raises(PrefixMismatchError, match=r"256 values per virtual token.*= 128"):
        load_prefix_source(bare, LLAMA_FACTS, "task")


def test_corrupt_weights_are_refused_in_one_line(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    good = save_checkpoint(make_prefix(model_dir).state_dict(), None, tmp_path / "good.bin")
    data = good.read_bytes()
    for name, content in {"truncated.bin": data[: len(data) // 2], "garbled.bin": data[:200] + bytes(300)}.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(PrefixSourceError) as e:
            li_liang.load(bad, facts, "task")
        assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_matches_only_li_liang_weights(tiny_model_dir, peft_adapter, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("control_trans wte.weight")
    (tmp_path / "random.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    unrelated = [tiny_model_dir("gpt2"), peft_adapter("gpt2", 4), tmp_path / "empty", tmp_path / "notes.txt"]
    unrelated += [tmp_path / "random.bin", tmp_path / "missing"]
    assert not any(li_liang.matches(p) for p in unrelated)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_safetensors_reads_like_the_bin(dtype, tiny_model_dir, tmp_path, caplog):
    """bf16 is not a numpy type: safetensors' numpy API cannot read it, so the importer widens it itself."""
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    state = {k: v.to(dtype) for k, v in make_prefix(model_dir).state_dict().items()}
    st = save_checkpoint(state, gpt2_config(model_dir), tmp_path / "st" / "model.safetensors")
    binary = save_checkpoint(state, gpt2_config(model_dir), tmp_path / "bin" / "pytorch_model.bin")
    with caplog.at_level("INFO"):
        prefix = load_prefix_source(st.parent, facts, "half")
    np.testing.assert_array_equal(prefix.key, load_prefix_source(binary.parent, facts, "half").key)
    assert f"{str(dtype).removeprefix('torch.')} tensors; the prefix is stored as float32" in caplog.text


def test_config_without_a_shape_is_read_with_gpt2_defaults(tmp_path):
    """A config.json with no n_layer/n_head/n_embd means GPT2Config's defaults (GPT-2 small: 12 × 12 × 64), as
    transformers reads it; such a prefix must not be split into another geometry of the same total width."""
    upstream = LiLiangPrefix(12, 12, 768, P).eval()  # (P, 2·12·768 = 18432)
    config = {"model_type": "gpt2", "architectures": ["PrefixTuning"], "preseqlen": P, "mid_dim": 24}
    target = save_checkpoint(upstream.state_dict(), config, tmp_path / "ckpt" / "pytorch_model.bin")
    small = ModelFacts("gpt2", num_layers=12, num_key_value_heads=12, head_dim=64, hidden_size=768)
    assert_same_kv(li_liang.load(target.parent, small, "e2e"), upstream.get_prompt())
    same_width = ModelFacts("gpt2", num_layers=24, num_key_value_heads=6, head_dim=64, hidden_size=384)
    with pytest.raises(PrefixMismatchError, match=r"tuned on 12 layers × 12 kv heads × 64 .*GPT-2 defaults"):
        li_liang.load(target.parent, same_width, "e2e")


@pytest.mark.parametrize("with_config", [True, False])
def test_prefix_emb_tuning_is_refused_as_what_it_is(with_config, tiny_model_dir, tmp_path):
    """PrefixEmbTuning's MLP makes input embeddings (P, n_embd) that GPT-2 turns into the cache: not keys and values."""
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    config = gpt2_config(model_dir, architectures=["PrefixEmbTuning"], parametrize_emb="MLP") if with_config else None
    target = save_checkpoint(LiLiangPrefixEmb(64, P).state_dict(), config, tmp_path / "ckpt" / "model.safetensors")
    source = target.parent if with_config else target
    with pytest.raises(PrefixSourceError, match=r"PrefixEmbTuning .*input embeddings .*\(6, 64\)") as e:
        load_prefix_source(source, facts, "emb")
    assert "\n" not in str(e.value)


def test_bart_checkpoint_is_refused_as_encoder_decoder(tiny_model_dir, tmp_path):
    """BART's wte2/control_trans2 is the cross-attention prefix, not infix-tuning; its KV width matches gpt2's."""
    from transformers import BartConfig

    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    bart = BartConfig(
        d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4
    )
    config = {**bart.to_dict(), "architectures": ["PrefixTuning"], "preseqlen": P, "mid_dim": 24, "optim_prefix": True}
    state = LiLiangBartPrefix(2, 64, P).state_dict()
    target = save_checkpoint(state, config, tmp_path / "ckpt" / "pytorch_model.bin")
    with pytest.raises(PrefixSourceError, match=r"encoder-decoder \(BART\) .*wte_enc.*wte2") as e:
        load_prefix_source(target.parent, facts, "summ")
    assert "infix" not in str(e.value)


@pytest.mark.parametrize("preseqlen", [4, 5])
def test_shallow_with_a_wrong_preseqlen_blames_the_config(preseqlen, tiny_model_dir, tmp_path):
    """6 virtual tokens of 256 values: preseqlen 4 would split them as 384 wide, 5 does not divide them."""
    model_dir = tiny_model_dir("gpt2")
    _, facts = hf_model(model_dir)
    config = gpt2_config(model_dir, init_shallow="yes", preseqlen=preseqlen)
    target = save_checkpoint(
        make_prefix(model_dir, "shallow").state_dict(), config, tmp_path / "c" / "pytorch_model.bin"
    )
    with pytest.raises(PrefixSourceError, match=rf"1536 values, .*preseqlen={preseqlen}.*6 virtual tokens") as e:
        li_liang.load(target.parent, facts, "task")
    assert "model has" not in str(e.value)
