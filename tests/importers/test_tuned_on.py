"""A prefix tuned on another model of the same KV shape is refused, naming both models, unless allow_other_model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from upstream_prefix import LiLiangPrefix, PrefixEncoder, hf_model, save_checkpoint
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import PrefixMismatchError
from prefixdeploy.importers import load_prefix_source
from prefixdeploy.importers.tuned_on import check_tuned_on, from_config
from prefixdeploy.runtime.prefix import ModelFacts, save_prefix

P = 5
GPT2_SHAPED_LLAMA = ModelFacts("llama", num_layers=2, num_key_value_heads=4, head_dim=16, hidden_size=64)


def bert_ptuning_v2(directory: Path, with_model_type: bool = True) -> Path:
    """THUDM's P-Tuning v2 on a BERT of gpt2's tiny shape (2 layers × 4 heads × 16): its config.json says bert."""
    from transformers import BertConfig

    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128).to_dict()
    config |= {"architectures": ["BertPrefixForSequenceClassification"], "pre_seq_len": P, "prefix_projection": False}
    if not with_model_type:
        del config["model_type"]
    torch.manual_seed(0)
    state = {f"prefix_encoder.{k}": v for k, v in PrefixEncoder(P, 64, 256, projection=False).state_dict().items()}
    state["classifier.weight"] = torch.zeros(2, 64)
    return save_checkpoint(state, config, directory / "pytorch_model.bin").parent


@pytest.mark.parametrize("with_model_type", [True, False])
def test_ptuning_v2_for_bert_is_refused_on_gpt2(with_model_type, tiny_model_dir, tmp_path):
    _, gpt2 = hf_model(tiny_model_dir("gpt2"))
    source = bert_ptuning_v2(tmp_path / "ner", with_model_type)
    said = "'bert' model \\(model_type" if with_model_type else "BertPrefixForSequenceClassification \\(architectures"
    with pytest.raises(
        PrefixMismatchError, match=rf"tuned on a {said} in .*config.json\); the model is a 'gpt2' model"
    ):
        load_prefix_source(source, gpt2, "ner")
    assert load_prefix_source(source, gpt2, "ner", allow_other_model=True).num_virtual_tokens == P


@pytest.mark.parametrize(
    ("architecture", "model_type"),
    [("GPT2LMHeadModel", "gpt2"), ("MistralForCausalLM", "mistral"), ("GPTNeoXForCausalLM", "gpt_neox")],
)
def test_architectures_without_a_model_type_name_the_family(architecture, model_type):
    facts = ModelFacts(model_type, num_layers=2, num_key_value_heads=4, head_dim=16, hidden_size=64)
    check_tuned_on(from_config({"architectures": [architecture]}, Path("config.json")), facts, "p", None, False)
    other = ModelFacts("llama", num_layers=2, num_key_value_heads=4, head_dim=16, hidden_size=64)
    with pytest.raises(PrefixMismatchError, match=f"tuned on a {architecture} "):
        check_tuned_on(from_config({"architectures": [architecture]}, Path("config.json")), other, "p", None, False)
    assert from_config({"architectures": ["PrefixTuning"]}, Path("config.json")) is None  # Li & Liang's own module


def test_li_liang_gpt2_prefix_is_refused_on_a_llama_of_the_same_shape(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir("gpt2")
    config = {**json.loads((model_dir / "config.json").read_text()), "preseqlen": P, "architectures": ["PrefixTuning"]}
    source = save_checkpoint(LiLiangPrefix(2, 4, 64, P).state_dict(), config, tmp_path / "e2e" / "model.safetensors")
    with pytest.raises(PrefixMismatchError, match=r"tuned on a 'gpt2' model \(model_type in .*the model is a 'llama'"):
        load_prefix_source(source.parent, GPT2_SHAPED_LLAMA, "e2e")


def test_mistral_adapter_is_refused_on_a_llama_of_the_same_shape(tiny_model_dir, peft_adapter, caplog):
    _, llama = hf_model(tiny_model_dir("llama"))
    adapter = peft_adapter("mistral", P)
    mistral_dir = str(tiny_model_dir("mistral"))
    with pytest.raises(PrefixMismatchError, match=rf"'{mistral_dir}', a 'mistral' model .*the model is a 'llama'"):
        load_prefix_source(adapter, llama, "a", model_source=str(tiny_model_dir("llama")))
    with caplog.at_level("WARNING"):
        assert load_prefix_source(adapter, llama, "a", allow_other_model=True).num_virtual_tokens == P
    assert "importing it anyway (allow_other_model)" in caplog.text


def test_prefix_file_for_another_family_is_refused(tiny_model_dir, peft_adapter, tmp_path):
    _, gpt2 = hf_model(tiny_model_dir("gpt2"))
    save_prefix(load_prefix_source(peft_adapter("gpt2", P), gpt2, "summ"), tmp_path / "summ.safetensors")
    with pytest.raises(PrefixMismatchError, match=r"made for a 'gpt2' model .*the model is a 'llama'"):
        load_prefix_source(tmp_path / "summ.safetensors", GPT2_SHAPED_LLAMA, "summ")


def with_base(adapter: Path, base: str, to: Path) -> Path:
    shutil.copytree(adapter, to)
    config = json.loads((to / "adapter_config.json").read_text())
    (to / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": base}))
    return to


def test_adapter_names_its_base_by_hub_id(tiny_model_dir, peft_adapter, tmp_path, caplog):
    """Two hub ids that differ are two models; a hub id and a local directory cannot be compared: a warning."""
    model_dir = tiny_model_dir("llama")
    _, llama = hf_model(model_dir)
    adapter = with_base(peft_adapter("llama", P), "org/tuned-on", tmp_path / "a")
    with pytest.raises(
        PrefixMismatchError, match=r"tuned on 'org/tuned-on' .*the model is a 'llama' model \('org/other'\)"
    ):
        load_prefix_source(adapter, llama, "a", model_source="org/other")
    assert load_prefix_source(adapter, llama, "a", model_source="org/tuned-on").num_virtual_tokens == P
    with caplog.at_level("WARNING"):
        load_prefix_source(adapter, llama, "a", model_source=str(model_dir))
    assert "cannot tell whether 'org/tuned-on' (base_model_name_or_path" in caplog.text


def run_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


def test_cli_refuses_another_model_unless_told(tiny_model_dir, peft_adapter, tmp_path):
    llama, adapter = tiny_model_dir("llama"), peft_adapter("mistral", P)
    code, err = run_cli("import-prefix", adapter, "--model", llama, "-o", tmp_path / "p.safetensors")
    assert_user_error(code, err, "a 'mistral' model", "a 'llama' model", "--allow-other-model")
    code, err = run_cli(
        "import-prefix", adapter, "--model", llama, "-o", tmp_path / "p.safetensors", "--allow-other-model"
    )
    assert code == 0, err
    code, err = run_cli("export", "--model", llama, "--prefix", adapter, "-o", tmp_path / "b", "--portable-only")
    assert_user_error(code, err, "a 'mistral' model")
    assert not (tmp_path / "b").exists()
    code, err = run_cli(
        "export", "--model", llama, "--prefix", adapter, "-o", tmp_path / "b", "--portable-only", "--allow-other-model"
    )
    assert code == 0, err
