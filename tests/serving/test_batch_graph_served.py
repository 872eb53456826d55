"""`prefixdeploy serve --precision int4 --batch-precision int8` as a real subprocess: the startup line names both
graphs, and a lone request (its prompt on the int8 dynamic graph, its decode steps on int4) answers exactly what the
runtime answers with the same pair of graphs (tests/runtime/test_batch_graph.py pins which graph runs what)."""

from __future__ import annotations

import pytest
from server_process import running_server

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

PROMPT = "hello world, this is a test of the"


@pytest.fixture(scope="module")
def bundle_dir(tiny_model_dir, peft_adapter, tmp_path_factory):
    model = str(tiny_model_dir("llama"))
    out = tmp_path_factory.mktemp("served-batch-graph") / "bundle"
    specs = (f"summ={peft_adapter('llama', 5, seed=1)}",)
    return export_bundle(ExportConfig(model, specs, out, precisions=("int4", "int8"), int8_recipe="dynamic"))


def test_a_lone_request_equals_the_runtime_with_the_same_two_graphs(bundle_dir):
    with load_bundle(bundle_dir, precision="int4", batch_precision="int8") as bundle:
        ids = bundle.encode(PROMPT)
        want = bundle.generate_ids([ids], ["summ"], GenerationConfig(max_new_tokens=8, ignore_eos=True))[0]
    with running_server(bundle_dir, "--precision", "int4", "--batch-precision", "int8") as server:
        out = server.client().completions.create(
            model="summ",
            prompt=PROMPT,
            max_tokens=8,
            temperature=0,
            extra_body={"return_token_ids": True, "ignore_eos": True},
        )
        assert out.choices[0].model_extra["token_ids"] == want
        assert any(
            "model.ort.int4.onnx int4 mixed; batches: model.ort.int8.onnx int8 dynamic" in line for line in server.log
        )
