"""A batch graph beside the main one (`load_bundle(batch_precision=...)`): calls of more than one token (prompts,
decode steps of several rows) run the batch graph, one row's decode steps the main graph, over one KV buffer.

So a batch of rows generates exactly what the batch graph's precision generates alone, and a one-token prompt
decoding alone exactly what the main graph's precision does; a graph that takes other tensors is refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

GREEDY = GenerationConfig(max_new_tokens=6, ignore_eos=True)
PROMPTS = ["hello world, this is a test of the", "the cat sat on", "one two", "a longer prompt than the others are"]


@pytest.fixture(scope="module")
def bundle_dir(tiny_model_dir, peft_adapter, tmp_path_factory):
    """int4 (mixed), int8 (dynamic) and fp16 graphs of a tiny llama with two prefixes."""
    model = str(tiny_model_dir("llama"))
    specs = (f"short={peft_adapter('llama', 5, seed=1)}", f"long={peft_adapter('llama', 9, True, 2)}")
    out = tmp_path_factory.mktemp("batch-graph") / "bundle"
    return export_bundle(ExportConfig(model, specs, out, precisions=("int4", "int8", "fp16"), int8_recipe="dynamic"))


def generate(bundle_dir, prompts: list, prefixes: list, **options) -> list[list[int]]:
    with load_bundle(bundle_dir, **options) as bundle:
        ids = [bundle.encode(p) if isinstance(p, str) else p for p in prompts]
        return bundle.generate_ids(ids, prefixes, GREEDY)


def test_a_batch_runs_the_batch_graph_and_a_lone_row_the_main_graph(bundle_dir):
    prefixes = ["short", "long", "long", "short"]
    hybrid = generate(bundle_dir, PROMPTS, prefixes, precision="int4", batch_precision="int8")
    assert hybrid == generate(bundle_dir, PROMPTS, prefixes, precision="int8")  # every step has 4 rows
    lone = [[7]]  # one token: its prompt and every decode step are one-token calls
    assert generate(bundle_dir, lone, ["long"], precision="int4", batch_precision="int8") == generate(
        bundle_dir, lone, ["long"], precision="int4"
    )


def test_a_lone_row_prefills_on_the_batch_graph_and_decodes_on_the_main_graph(bundle_dir):
    prompt = PROMPTS[0]
    with load_bundle(bundle_dir, precision="int4", batch_precision="int8") as hybrid:
        assert (hybrid.graph.weights, hybrid.batch_graph.weights) == ("int4 mixed", "int8 dynamic")
        steps = list(hybrid.steps([hybrid.encode(prompt)], ["short"], GREEDY))
    with load_bundle(bundle_dir, precision="int8") as int8:
        first = next(iter(int8.steps([int8.encode(prompt)], ["short"], GREEDY)))
    np.testing.assert_array_equal(steps[0].logits, first.logits)  # the prompt ran on the int8 graph


def test_batch_precision_must_name_another_onnx_runtime_graph_of_the_same_tensors(bundle_dir):
    with pytest.raises(ConfigError, match="other than model.ort.int4.onnx") as raised:
        load_bundle(bundle_dir, precision="int4", batch_precision="int4")
    assert raised.value.fields == ("batch_precision",)
    with pytest.raises(ConfigError, match="other than model.ort.int4.onnx; the bundle's is model.onnx"):
        load_bundle(bundle_dir, precision="int4", batch_precision="fp32")  # the portable graph, not fused
    with pytest.raises(PrefixDeployError, match="model.ort.fp16.onnx cannot run batches for model.ort.int4.onnx"):
        load_bundle(bundle_dir, precision="int4", batch_precision="fp16")  # float16 KV against float32
