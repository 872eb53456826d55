"""The family registry and its specs (prefixdeploy/models/archs/): styles come from closed sets, an unregistered
architecture is refused listing the registered ones, and each family refuses, in one line naming the field, the
configurations the generic graph would not reproduce. That every registered family has a parity fixture is checked
beside the fixture, in tests/exporter/test_parity.py."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from tiny_models import tiny_tokenizer, with_config
from user_errors import assert_no_bundle_written, assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.models.archs.base import ArchSpec


def test_a_family_declares_its_styles_from_the_closed_sets():
    with pytest.raises(TypeError, match="Bad.norm must be a NormStyle, got 'rms'"):

        class Bad(ArchSpec):
            norm = "rms"


def test_unsupported_architecture_lists_the_supported(tmp_path):
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(0)
    config = GPTNeoXConfig(
        vocab_size=300, hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64
    )
    GPTNeoXForCausalLM(config).save_pretrained(tmp_path / "neox")
    tiny_tokenizer().save_pretrained(tmp_path / "neox")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["export", "--model", str(tmp_path / "neox"), "-o", str(out)])
    assert_user_error(
        result.exit_code,
        result.stderr,
        "'gpt_neox' is not supported",
        "gpt2, granite, llama, mistral, phi3, qwen2, qwen3",
    )
    assert_no_bundle_written(out)


REFUSED = {
    "qwen3 sliding window": ("qwen3", {"use_sliding_window": True, "sliding_window": 8}, "use_sliding_window=True"),
    "gemma bidirectional": ("gemma3_text", {"use_bidirectional_attention": True}, "use_bidirectional_attention=True"),
    "gemma activation": ("gemma3_text", {"hidden_activation": "gelu"}, "hidden_activation='gelu'"),
    "granite activation": ("granite", {"hidden_act": "gelu"}, "hidden_act='gelu'"),
    "llama dynamic rope": (
        "llama3",
        {"rope_parameters": {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 500000.0}},
        "rope_parameters.rope_type='dynamic'",
    ),
}


@pytest.mark.parametrize("case", REFUSED)
def test_export_refuses_what_it_cannot_reproduce_in_one_line_naming_the_field(case, tiny_model_dir, tmp_path):
    kind, changes, field = REFUSED[case]
    model = with_config(tiny_model_dir(kind), tmp_path / "model", **changes)
    result = CliRunner().invoke(main, ["export", "--model", str(model), "-o", str(tmp_path / "out")])
    assert_user_error(result.exit_code, result.stderr, field, "is not supported")
    assert not (tmp_path / "out").exists()
