"""The portable decoder graph: standard ops at the requested opset, the decoder I/O names, and baked prefixes as
constants (a bank adds `prefix_ids`). Numerical parity is `test_parity.py`'s job."""

from __future__ import annotations

from enum import Enum

import numpy as np
import onnx
import pytest

from prefixdeploy.exporter import blocks, decoder
from prefixdeploy.exporter.decoder import build_decoder
from prefixdeploy.models.archs.base import MlpStyle, NormStyle, PositionStyle
from prefixdeploy.models.load import load_model
from prefixdeploy.runtime.manifest import PAST_KEY, PREFIX_IDS, PRESENT_VALUE
from prefixdeploy.runtime.prefix import Prefix


def prefixes(facts, lengths=(3, 5)) -> list[Prefix]:
    rng = np.random.default_rng(0)
    L, H, D = facts.num_layers, facts.num_key_value_heads, facts.head_dim
    kv = [rng.standard_normal((2, L, H, P, D)).astype(np.float32) for P in lengths]  # (2, L, H_kv, P, D) each
    return [Prefix(name=f"p{k.shape[3]}", key=k[0], value=k[1], model=facts) for k in kv]


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_switchable_graph_has_the_decoder_io_and_only_standard_ops(tiny_model_dir, kind):
    loaded = load_model(str(tiny_model_dir(kind)))
    graph = build_decoder(loaded.arch, loaded.rope(), None, opset=17)
    onnx.checker.check_model(graph, full_check=True)
    inputs, outputs = [i.name for i in graph.graph.input], [o.name for o in graph.graph.output]
    L = loaded.dims.num_layers
    assert inputs[:3] == ["input_ids", "attention_mask", "position_ids"]
    assert PAST_KEY.format(L - 1) in inputs and PRESENT_VALUE.format(L - 1) in outputs and outputs[0] == "logits"
    assert {o.domain for o in graph.opset_import} == {""} and graph.opset_import[0].version == 17
    assert all(node.domain == "" for node in graph.graph.node)


def test_baked_bank_selects_its_prefix_by_input(tiny_model_dir):
    loaded = load_model(str(tiny_model_dir("llama")))
    single = build_decoder(loaded.arch, loaded.rope(), prefixes(loaded.facts)[:1], opset=17)
    bank = build_decoder(loaded.arch, loaded.rope(), prefixes(loaded.facts), opset=17)
    assert PREFIX_IDS not in [i.name for i in single.graph.input]
    assert PREFIX_IDS in [i.name for i in bank.graph.input]
    onnx.checker.check_model(bank, full_check=True)


@pytest.mark.parametrize(
    "style, table", [(NormStyle, blocks.NORMS), (PositionStyle, decoder._POSITIONS), (MlpStyle, blocks.MLPS)]
)
def test_every_style_has_a_builder_and_none_is_a_default(style, table):
    assert set(table) == set(style)
    Other = Enum("Other", {"NEW": "new"})
    with pytest.raises(NotImplementedError, match="no Other <Other.NEW"):
        blocks.style(table, Other.NEW)
