"""PEFT prefix-tuning adapters: values and logits equal PEFT's own, old `.bin` adapters, and every refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from upstream_prefix import assert_same_kv, assert_same_logits, hf_model, logits_after, prefix_layers

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.importers import detect_kind, load_prefix_source, peft
from prefixdeploy.runtime.prefix import ModelFacts

P = 5
IDS = [5, 17, 42, 8, 99, 3]
LLAMA_FACTS = ModelFacts("llama", num_layers=2, num_key_value_heads=2, head_dim=16, hidden_size=64)


def peft_prompt(model_dir: Path, adapter: Path):
    """PEFT's PeftModel for the adapter, and its prefix split the upstream way (one (2, 1, H, P, hd) per layer)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    peft_model = PeftModel.from_pretrained(base, adapter).eval()
    c = peft_model.peft_config["default"]
    L, H = c.num_layers, c.num_attention_heads
    with torch.no_grad():  # inference mode: the embedding holds the saved prompt_embeddings (MLP output included)
        flat = peft_model.prompt_encoder["default"].embedding.weight[None]  # (1, P, 2·L·D)
    return peft_model, flat.view(1, c.num_virtual_tokens, 2 * L, H, c.token_dim // H).permute([2, 0, 3, 1, 4]).split(2)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
@pytest.mark.parametrize("projection", [False, True])
def test_adapter_matches_peft(kind, projection, tiny_model_dir, peft_adapter):
    """llama has 2 kv heads of 4 (GQA): PEFT sizes the prefix by kv heads."""
    model_dir = tiny_model_dir(kind)
    model, facts = hf_model(model_dir)
    adapter = peft_adapter(kind, P, projection=projection)
    assert detect_kind(adapter) == "peft"
    prefix = load_prefix_source(adapter, facts, "summ")
    assert prefix.key.shape == (2, facts.num_key_value_heads, P, 16)
    peft_model, pkv = peft_prompt(model_dir, adapter)
    assert_same_kv(prefix, pkv)
    assert_same_logits(model, prefix, pkv, IDS)
    with torch.no_grad():  # and PEFT's own forward() agrees with the prefix as the cache
        ids = torch.tensor([IDS])
        expected = peft_model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits[0].numpy()
    np.testing.assert_allclose(logits_after(model, prefix_layers(prefix), IDS), expected, atol=1e-4, rtol=0)


def copy_adapter(adapter: Path, to: Path) -> Path:
    shutil.copytree(adapter, to)
    return to


def test_old_bin_adapter_reads_like_safetensors(tiny_model_dir, peft_adapter, tmp_path):
    from safetensors.torch import load_file

    _, facts = hf_model(tiny_model_dir("llama"))
    adapter = peft_adapter("llama", P)
    old = copy_adapter(adapter, tmp_path / "old")
    torch.save(load_file(old / "adapter_model.safetensors"), old / "adapter_model.bin")  # PEFT < 0.7
    (old / "adapter_model.safetensors").unlink()
    new, legacy = load_prefix_source(adapter, facts, "a"), load_prefix_source(old, facts, "a")
    np.testing.assert_array_equal(legacy.key, new.key)
    np.testing.assert_array_equal(legacy.value, new.value)


def test_lora_adapter_is_refused_by_name(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model_dir = tiny_model_dir("llama")
    _, facts = hf_model(model_dir)
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj", "v_proj"])).save_pretrained(tmp_path / "lora")
    with pytest.raises(PrefixSourceError, match="PEFT LORA adapter, not prefix tuning"):
        load_prefix_source(tmp_path / "lora", facts, "lora")


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_damaged_safetensors_is_refused(damage, tiny_model_dir, peft_adapter, tmp_path):
    _, facts = hf_model(tiny_model_dir("llama"))
    adapter = copy_adapter(peft_adapter("llama", P), tmp_path / "adapter")
    weights = adapter / "adapter_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"\x07" * len(data) if damage == "corrupt" else data[: len(data) - 100])
    with pytest.raises(PrefixSourceError) as e:
        load_prefix_source(adapter, facts, "a")
    assert str(weights) in str(e.value) and "\n" not in str(e.value)


def test_prefix_for_another_geometry_names_both_shapes(tiny_model_dir, peft_adapter):
    adapter = peft_adapter("gpt2", P)  # 4 kv heads of 16; the llama has 2
    with pytest.raises(PrefixMismatchError, match=r"2 layers × 4 kv heads × 16; model has 2 layers × 2 kv heads × 16"):
        load_prefix_source(adapter, LLAMA_FACTS, "a")


class Trap:
    """Unpickling this runs `_spring`: the test checks the importer never does."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return _spring, (str(self.marker),)


def _spring(marker: str) -> None:
    Path(marker).write_text("pickled code ran")


def test_bin_with_pickled_objects_is_refused_without_running_them(tiny_model_dir, peft_adapter, tmp_path):
    _, facts = hf_model(tiny_model_dir("llama"))
    adapter = copy_adapter(peft_adapter("llama", P), tmp_path / "adapter")
    (adapter / "adapter_model.safetensors").unlink()
    marker = tmp_path / "sprung"
    torch.save({"prompt_embeddings": Trap(marker)}, adapter / "adapter_model.bin")
    with pytest.raises(PrefixSourceError, match="pickled objects other than tensors.*refusing") as e:
        load_prefix_source(adapter, facts, "a")
    assert "\n" not in str(e.value)
    assert not marker.exists()
    torch.load(adapter / "adapter_model.bin", weights_only=False)  # the trap is real: an unsafe load springs it
    assert marker.exists()


def test_bin_that_is_not_a_state_dict_is_refused(tiny_model_dir, peft_adapter, tmp_path):
    _, facts = hf_model(tiny_model_dir("llama"))
    adapter = copy_adapter(peft_adapter("llama", P), tmp_path / "adapter")
    (adapter / "adapter_model.safetensors").unlink()
    torch.save(torch.zeros(P, 128), adapter / "adapter_model.bin")
    with pytest.raises(PrefixSourceError, match="holds a Tensor; expected a state dict"):
        peft.load(adapter, facts, "a")


def test_adapter_with_a_trained_lm_head_is_refused_naming_it(tiny_model_dir, tmp_path):
    """modules_to_save=["lm_head"]: PEFT's model runs its own lm_head, which a bundle of this model would not have."""
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    _, facts = hf_model(tiny_model_dir("llama"))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("llama"))
    config = PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=P, modules_to_save=["lm_head"])
    get_peft_model(model, config).save_pretrained(tmp_path / "head")
    with pytest.raises(PrefixSourceError, match=r"trained weights besides the prefix: base_model.lm_head.weight") as e:
        load_prefix_source(tmp_path / "head", facts, "a")
    assert "\n" not in str(e.value)


def test_sequence_classification_adapter_is_refused_naming_its_head(tiny_model_dir, tmp_path):
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    _, facts = hf_model(tiny_model_dir("llama"))
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir("llama"), num_labels=2)
    get_peft_model(model, PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=P)).save_pretrained(tmp_path / "c")
    with pytest.raises(PrefixSourceError, match=r"SEQ_CLS .*base_model.score.weight"):
        load_prefix_source(tmp_path / "c", facts, "a")
    tensors = load_file_np(tmp_path / "c" / "adapter_model.safetensors")  # the same refusal from an old .bin adapter
    torch.save({k: torch.from_numpy(v) for k, v in tensors.items()}, tmp_path / "c" / "adapter_model.bin")
    (tmp_path / "c" / "adapter_model.safetensors").unlink()
    with pytest.raises(PrefixSourceError, match=r"base_model.score.weight"):
        load_prefix_source(tmp_path / "c", facts, "a")


def load_file_np(path: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    return load_file(str(path))


def test_bf16_adapter_reads_like_its_bin(tiny_model_dir, peft_adapter, tmp_path, caplog):
    from safetensors.torch import save_file

    _, facts = hf_model(tiny_model_dir("llama"))
    half = copy_adapter(peft_adapter("llama", P), tmp_path / "half")
    embeddings = torch.from_numpy(load_file_np(half / "adapter_model.safetensors")["prompt_embeddings"])
    save_file({"prompt_embeddings": embeddings.to(torch.bfloat16)}, str(half / "adapter_model.safetensors"))
    old = copy_adapter(half, tmp_path / "old")
    torch.save({"prompt_embeddings": embeddings.to(torch.bfloat16)}, old / "adapter_model.bin")
    (old / "adapter_model.safetensors").unlink()
    with caplog.at_level("INFO"):
        prefix = load_prefix_source(half, facts, "a")
    np.testing.assert_array_equal(prefix.key, load_prefix_source(old, facts, "a").key)
    assert "bfloat16 tensors; the prefix is stored as float32" in caplog.text
