"""Every weight precision of the ONNX Runtime graph works in both prefix modes and in mixed-prefix batches.

Quantized graphs cannot match the reference to 1e-4; what must hold is that they carry each row's own prefix: a
row's logits are near the fp32 graph's logits for that prefix, far nearer than to another prefix's, and a mixed
batch gives every row what that row gives alone. Their quality on the real model is measured by `prefixdeploy
verify` (README).
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from prefixdeploy.cli import main
from prefixdeploy.errors import ConfigError
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.exporter.optimize.precision import DOWN, INT4, INT8, LM_HEAD
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import Manifest, read_manifest
from prefixdeploy.vocabulary import INT4_RECIPES, INT8_RECIPES

PRECISIONS = ("fp32", "fp16", "int8", "int4")
PROMPTS = ["hello world, this is a test of the", "the cat sat on"]
GREEDY = GenerationConfig(max_new_tokens=6, ignore_eos=True)
# Error against fp32, as a fraction of the distance between two prefixes' logits. Random tiny weights are the worst
# case for 4 bits (no structure; measured at most: fp16 0.005, int8 0.03, int4 0.23-0.53 of the gap).
BOUND = {"fp16": 0.02, "int8": 0.2, "int4": 0.8}


@pytest.fixture(scope="module")
def bundles(tiny_model_dir, peft_adapter, tmp_path_factory):
    model = str(tiny_model_dir("llama"))
    specs = (f"short={peft_adapter('llama', 5, seed=1)}", f"long={peft_adapter('llama', 9, True, 2)}")
    out = tmp_path_factory.mktemp("precision")
    return {
        mode: export_bundle(ExportConfig(model, specs, out / mode, mode=mode, precisions=PRECISIONS))
        for mode in ("switchable", "baked")
    }


def first_logits(bundle, prompt: str, prefix: str) -> np.ndarray:
    step = next(iter(bundle.steps([bundle.encode(prompt)], [prefix], GREEDY)))
    return step.logits[0]


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_graphs_are_listed_fastest_first_with_the_portable_graph_last(bundles, mode):
    with load_bundle(bundles[mode]) as bundle:
        graphs = [(g.precision, g.kind) for g in bundle.manifest.graphs]
        assert bundle.graph.precision == "fp32" and bundle.graph.kind == "ort"
    assert graphs == [(p, "ort") for p in PRECISIONS] + [("fp32", "portable")]


@pytest.mark.parametrize("mode", ["switchable", "baked"])
@pytest.mark.parametrize("precision", PRECISIONS[1:])
def test_each_precision_carries_each_rows_prefix(bundles, mode, precision):
    with load_bundle(bundles[mode], precision="fp32") as fp32:
        reference = {(n, p): first_logits(fp32, p, n) for n in ("short", "long") for p in PROMPTS}
    with load_bundle(bundles[mode], precision=precision) as bundle:
        assert bundle.graph.precision == precision
        for (name, prompt), expected in reference.items():
            got = first_logits(bundle, prompt, name)
            other = reference["long" if name == "short" else "short", prompt]
            error, gap = np.abs(got - expected).max(), np.abs(other - expected).max()
            assert error < BOUND[precision] * gap, (name, prompt, error, gap)


@pytest.mark.parametrize("mode", ["switchable", "baked"])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_mixed_prefix_batch_equals_rows_alone(bundles, mode, precision):
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
    with load_bundle(bundles[mode], precision=precision) as bundle:
        alone = [bundle.generate_ids([bundle.encode(p)], [n], GREEDY)[0] for n, p in rows]
        together = bundle.generate_ids([bundle.encode(p) for _, p in rows], [n for n, _ in rows], GREEDY)
    assert together == alone


def test_run_picks_the_graph_by_precision(bundles):
    args = ["run", str(bundles["switchable"]), "--prefix", "long", "--max-new-tokens", "6", "--ignore-eos", "--json"]
    with load_bundle(bundles["switchable"], precision="int4") as bundle:
        expected = bundle.generate_ids([bundle.encode(PROMPTS[0])], ["long"], GREEDY)[0]
    result = CliRunner().invoke(main, [*args, "--precision", "int4", PROMPTS[0]])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["token_ids"] == expected


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_the_fp16_graph_keeps_its_cache_in_float16_read_and_written_in_place(bundles, mode):
    """GroupQueryAttention takes each past straight from the graph's inputs and writes the graph's outputs, so it
    updates the runtime's one float16 buffer in place: a Cast on either side would copy the whole cache every step."""
    entry = next(g for g in read_manifest(bundles[mode]).graphs if g.precision == "fp16")
    graph = onnx.load(str(bundles[mode] / entry.file), load_external_data=False).graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.input, *graph.output]}
    kv = [name for name in types if name.startswith(("past_key_values.", "present."))]
    assert kv and all(types[name] == onnx.TensorProto.FLOAT16 for name in kv)
    assert types[io_names.LOGITS] == onnx.TensorProto.FLOAT  # for the sampler, as every graph's
    attention = [node for node in graph.node if node.op_type == "GroupQueryAttention"]
    assert attention and all(set(node.input[3:5]) | set(node.output[1:3]) <= set(kv) for node in attention)


# int4 recipes: `mixed` keeps the lm_head and the MLP down projections at 8 bits, `pure` quantizes them to 4 as well,
# `mixed-dynamic` runs mixed's 8-bit weights in DynamicQuantizeMatMul.
# int8 recipes: `blocks` (MatMulNBits everywhere), `dynamic` (DynamicQuantizeMatMul but for the down projections).


@pytest.fixture(scope="module")
def recipe_bundles(bundles, tiny_model_dir, peft_adapter, tmp_path_factory):
    """{recipe: switchable bundle with fp32, int8 and int4 graphs}: mixed and blocks are the defaults (the `bundles`
    above); another bundle holds int4 pure and int8 dynamic, under both names; a third fp32 and int4 mixed-dynamic."""
    model = str(tiny_model_dir("llama"))
    specs = (f"short={peft_adapter('llama', 5, seed=1)}", f"long={peft_adapter('llama', 9, True, 2)}")
    out = tmp_path_factory.mktemp("recipe") / "pure"
    config = ExportConfig(model, specs, out, precisions=("fp32", "int8", "int4"), int4_recipe="pure")
    other = export_bundle(replace(config, int8_recipe="dynamic"))
    third = replace(config, output=out.parent / "mixed-dynamic", precisions=("fp32", "int4"))
    mixed_dynamic = export_bundle(replace(third, int4_recipe="mixed-dynamic"))
    defaults = {"mixed": bundles["switchable"], "blocks": bundles["switchable"]}
    return {**defaults, "pure": other, "dynamic": other, "mixed-dynamic": mixed_dynamic}


def quantized_bits(bundle_dir) -> dict[str, int]:
    """{name of the weight that MatMulNBits / GatherBlockQuantized reads: bits} of a bundle's int4 graph."""
    graph = onnx.load_model(str(bundle_dir / "model.ort.int4.onnx"), load_external_data=False).graph
    bits = {}
    for node in graph.node:
        if node.op_type in ("MatMulNBits", "GatherBlockQuantized"):
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            bits[node.input[1 if node.op_type == "MatMulNBits" else 0]] = attrs["bits"]
    return bits


@pytest.mark.parametrize("recipe", INT4_RECIPES)
def test_int4_recipe_sets_the_bits_of_lm_head_down_projections_and_lookup(recipe_bundles, recipe):
    bits = quantized_bits(recipe_bundles[recipe])
    special = {name: b for name, b in bits.items() if name.startswith(LM_HEAD) or DOWN in name}
    lookup = {name: b for name, b in bits.items() if name.startswith("embed_tokens")}
    others = {name: b for name, b in bits.items() if name not in special and name not in lookup}
    assert len(lookup) == 1 and len(others) == 3 * 2, bits  # 2 layers: qkv, o, gate_up
    assert set(others.values()) == {4}
    assert set(lookup.values()) == {4 if recipe == "pure" else 8}
    if recipe == "mixed-dynamic":  # in DynamicQuantizeMatMul, not in blocks (below)
        assert special == {}, bits
    else:
        assert len(special) == 1 + 2 and set(special.values()) == {8 if recipe == "mixed" else 4}, bits


@pytest.mark.parametrize("precision, recipe", [("int4", r) for r in INT4_RECIPES] + [("int8", r) for r in INT8_RECIPES])
def test_the_manifest_records_the_recipe(recipe_bundles, precision, recipe):
    path = recipe_bundles[recipe]
    manifest = json.loads((path / "manifest.json").read_text())
    recipes = {g["file"]: g.get("recipe", "(absent)") for g in manifest["graphs"]}
    default = recipe in ("mixed", "blocks")  # not written: readers from before recipes still read the bundle
    assert recipes[f"model.ort.{precision}.onnx"] == ("(absent)" if default else recipe)
    assert recipes["model.ort.fp32.onnx"] == recipes["model.onnx"] == "(absent)"  # fp32 graphs have none
    with load_bundle(path, precision=precision) as bundle:
        assert bundle.graph.recipe == recipe and bundle.graph.weights == f"{precision} {recipe}"
        assert Manifest.from_json(json.loads(json.dumps(bundle.manifest.to_json()))) == bundle.manifest


def test_dynamic_int8_quantizes_every_weight_dynamically(recipe_bundles):
    """Every matmul is DynamicQuantizeMatMul over int8 weights with one scale per output column, the down projections
    too (their inputs smoothed: tests/exporter/test_smooth.py); the embedding lookup stays in 8-bit blocks."""
    graph = onnx.load_model(str(recipe_bundles["dynamic"] / "model.ort.int8.onnx"), load_external_data=False).graph
    kinds = {node.input[1]: node.op_type for node in graph.node if node.op_type.endswith(("MatMul", "MatMulNBits"))}
    assert len([name for name in kinds if DOWN in name]) == 2, kinds  # 2 layers
    assert len(kinds) == 2 * 4 + 1 and set(kinds.values()) == {"DynamicQuantizeMatMul"}, kinds
    assert [n.op_type for n in graph.node if n.op_type.startswith("Gather")] == ["GatherBlockQuantized"]
    weights = {t.name: t for t in graph.initializer}
    for name in kinds:
        assert weights[name].data_type == onnx.TensorProto.INT8 and len(weights[name + "_scale"].dims) == 1


@pytest.mark.parametrize("recipe, precision", [("dynamic", "int8"), ("mixed-dynamic", "int4")])
def test_dynamic_recipes_carry_each_rows_prefix_in_mixed_batches(recipe_bundles, recipe, precision):
    """Their activations are quantized with one scale per call, so a row in a batch is not bit-exact with the row
    alone (int4's kernels differ in the same way): its logits stay far nearer to its own than to another prefix's."""
    path = recipe_bundles[recipe]
    with load_bundle(path, precision="fp32") as fp32:
        reference = {(n, p): first_logits(fp32, p, n) for n in ("short", "long") for p in PROMPTS}
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
    with load_bundle(path, precision=precision) as bundle:
        assert bundle.graph.weights == f"{precision} {recipe}"
        batch = [bundle.encode(p) for _, p in rows]
        together = next(iter(bundle.steps(batch, [n for n, _ in rows], GREEDY))).logits
        for (name, prompt), got in zip(rows, together):
            expected, other = reference[name, prompt], reference["long" if name == "short" else "short", prompt]
            alone, gap = first_logits(bundle, prompt, name), np.abs(other - expected).max()
            assert np.abs(alone - expected).max() < BOUND[precision] * gap, (name, prompt)
            assert np.abs(got - alone).max() < BOUND[precision] * gap, (name, prompt)


def test_mixed_dynamic_int4_runs_the_8_bit_weights_dynamically(recipe_bundles):
    """The lm_head and the down projections in DynamicQuantizeMatMul (int8, one scale per output column), the rest
    in 4-bit MatMulNBits; the embedding lookup reads the lm_head's 8-bit blocks, as in mixed."""
    graph = onnx.load_model(str(recipe_bundles["mixed-dynamic"] / "model.ort.int4.onnx"), load_external_data=False)
    kinds = {n.input[1]: n.op_type for n in graph.graph.node if n.op_type.endswith(("MatMul", "MatMulNBits"))}
    dynamic = sorted(name for name, kind in kinds.items() if kind == "DynamicQuantizeMatMul")
    assert len(dynamic) == 1 + 2 and all(n.startswith(LM_HEAD) or DOWN in n for n in dynamic), kinds
    assert len(kinds) == 2 * 4 + 1, kinds


def test_pure_int4_stores_fewer_weight_bytes(recipe_bundles):
    size = {r: (p / "model.ort.int4.onnx.data").stat().st_size for r, p in recipe_bundles.items()}
    assert size["pure"] < 0.9 * size["mixed"], size  # 0.83 here; SmolLM2: 88.8 against 117.0 MB (0.76)


def test_pure_int4_carries_each_rows_prefix_and_mixed_batches(recipe_bundles):
    path = recipe_bundles["pure"]
    with load_bundle(path, precision="fp32") as fp32:
        reference = {(n, p): first_logits(fp32, p, n) for n in ("short", "long") for p in PROMPTS}
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
    with load_bundle(path, precision="int4") as bundle:
        for (name, prompt), expected in reference.items():
            other = reference["long" if name == "short" else "short", prompt]
            error, gap = np.abs(first_logits(bundle, prompt, name) - expected).max(), np.abs(other - expected).max()
            assert error < BOUND["int4"] * gap, (name, prompt, error, gap)
        alone = [bundle.generate_ids([bundle.encode(p)], [n], GREEDY)[0] for n, p in rows]
        together = bundle.generate_ids([bundle.encode(p) for _, p in rows], [n for n, _ in rows], GREEDY)
    assert together == alone


def test_every_recipe_of_the_vocabulary_has_a_recipe_and_the_first_is_the_default():
    assert tuple(INT4) == INT4_RECIPES and INT4_RECIPES[0] == ExportConfig("m", (), "o").int4_recipe == "mixed"
    assert tuple(INT8) == INT8_RECIPES and INT8_RECIPES[0] == ExportConfig("m", (), "o").int8_recipe == "blocks"


def test_an_unknown_recipe_names_the_choices_and_the_field():
    with pytest.raises(ConfigError, match="int4_recipe must be one of mixed, pure, mixed-dynamic, got 'q4'") as raised:
        ExportConfig("m", (), "o", precisions=("int4",), int4_recipe="q4")
    assert raised.value.fields == ("int4_recipe",)  # the CLI spells it --int4-recipe (tests/cli/test_errors.py)
    with pytest.raises(ConfigError, match="int8_recipe must be one of blocks, dynamic, got 'q8'") as raised:
        ExportConfig("m", (), "o", precisions=("int8",), int8_recipe="q8")
    assert raised.value.fields == ("int8_recipe",)
