"""ONNX Runtime execution providers: graph choice, provider lists and options, and the errors where one is missing.

This machine has only onnxruntime's CPU provider, so the CUDA and TensorRT sessions cannot start here: the tests
check the pure selection and option logic against the real graphs of tiny bundles, and the one-line errors a user
gets where onnxruntime-gpu is not installed. Nothing here shows the sessions run on a GPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import onnxruntime
import pytest
from click.testing import CliRunner
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime.backends.ort import _check_started
from prefixdeploy.runtime.backends.trt import TrtConfig
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.manifest import GraphEntry, read_manifest
from prefixdeploy.runtime.providers import (
    ProviderConfig,
    check_available,
    cuda_options,
    portable_inputs,
    select_graph,
    session_providers,
    tensorrt_options,
)

ALL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
GRAPHS = [
    GraphEntry("model.ort.fp32.onnx", "fp32", "ort"),
    GraphEntry("model.ort.int4.onnx", "int4", "ort"),
    GraphEntry("model.onnx", "fp32", "portable"),
]
WITH_FP16 = [GraphEntry("model.ort.fp16.onnx", "fp16", "ort"), *GRAPHS]


@pytest.mark.parametrize(
    "graphs, provider, precision, chosen",
    [
        (GRAPHS, "cpu", None, "model.ort.fp32.onnx"),  # unchanged: the ONNX Runtime variant first
        (GRAPHS, "cpu", "int4", "model.ort.int4.onnx"),
        (GRAPHS, "cuda", None, "model.onnx"),  # fp32 GroupQueryAttention has no CUDA kernel: the portable graph
        (GRAPHS, "cuda", "fp32", "model.onnx"),
        (WITH_FP16, "cuda", None, "model.ort.fp16.onnx"),  # fp16 fused attention runs on CUDA
        (GRAPHS, "tensorrt", None, "model.onnx"),  # standard ops only
        (WITH_FP16, "tensorrt", "fp16", "model.onnx"),  # TensorRT builds fp16 from the fp32 graph
    ],
)
def test_each_provider_gets_a_graph_it_can_run(graphs, provider, precision, chosen):
    assert select_graph(graphs, provider, None, precision).file == chosen


def test_a_graph_the_provider_cannot_run_is_refused_with_the_reason():
    with pytest.raises(BundleError, match="GroupQueryAttention is float32, which the CUDA provider lacks"):
        select_graph(GRAPHS, "cuda", None, "int4")
    with pytest.raises(BundleError, match="standard ONNX ops only"):
        select_graph(GRAPHS, "tensorrt", "model.ort.fp32.onnx", None)
    with pytest.raises(PrefixDeployError, match="fp32 or fp16, not int8"):
        select_graph(GRAPHS, "tensorrt", None, "int8")


def test_missing_provider_is_one_line_naming_the_package():
    check_available("cpu", ["CPUExecutionProvider"])
    with pytest.raises(PrefixDeployError) as e:
        check_available("cuda", ["AzureExecutionProvider", "CPUExecutionProvider"])
    assert "CUDAExecutionProvider" in str(e.value) and "pip install onnxruntime-gpu" in str(e.value)
    assert "\n" not in str(e.value)


def test_provider_lists_keep_cpu_last_and_cuda_behind_tensorrt(tiny_bundle):
    manifest = read_manifest(tiny_bundle("switchable"))
    cuda = session_providers(ProviderConfig(provider="cuda"), manifest, ALL)
    assert [p[0] if isinstance(p, tuple) else p for p in cuda] == ALL[1:]
    trt = session_providers(ProviderConfig(provider="tensorrt"), manifest, ALL)
    assert [p[0] if isinstance(p, tuple) else p for p in trt] == ALL
    no_cuda = session_providers(ProviderConfig(provider="tensorrt"), manifest, [ALL[0], ALL[2]])
    assert [p[0] if isinstance(p, tuple) else p for p in no_cuda] == [ALL[0], ALL[2]]


def test_cuda_options():
    options = cuda_options(ProviderConfig(provider="cuda", device_id=1, gpu_mem_limit_mb=512))
    assert options == {"device_id": "1", "arena_extend_strategy": "kSameAsRequested", "gpu_mem_limit": str(512 << 20)}
    assert "gpu_mem_limit" not in cuda_options(ProviderConfig(provider="cuda"))
    with pytest.raises(PrefixDeployError, match="device_id"):
        ProviderConfig(provider="cuda", device_id=-1)
    with pytest.raises(PrefixDeployError, match="provider must be one of"):
        ProviderConfig(provider="gpu")


def _profile(text: str) -> dict[str, tuple[int, ...]]:
    return {name: tuple(map(int, dims.split("x"))) for name, dims in (item.split(":") for item in text.split(","))}


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_tensorrt_profile_covers_every_dynamic_input_of_the_real_graph(tiny_bundle, mode, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFIXDEPLOY_CACHE", str(tmp_path))
    path = tiny_bundle(mode)
    manifest = read_manifest(path)
    trt = TrtConfig(fp16=True, max_batch=4, max_sequence=32, max_total=100)
    options = tensorrt_options(ProviderConfig(provider="tensorrt", trt=trt), manifest)
    low, opt, high = (_profile(options[f"trt_profile_{k}_shapes"]) for k in ("min", "opt", "max"))
    graph = onnxruntime.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"]).get_inputs()
    assert set(low) == set(opt) == set(high) == {arg.name for arg in graph} == set(portable_inputs(manifest))
    for arg in graph:  # fixed dims as in the graph, dynamic ones from the profile
        for axis, dim in enumerate(arg.shape):
            if isinstance(dim, int):
                assert low[arg.name][axis] == opt[arg.name][axis] == high[arg.name][axis] == dim, arg.name
    assert high["input_ids"] == (4, 32) and low["input_ids"] == (1, 1)
    assert high["past_key_values.0.key"][2] == 99 and low["past_key_values.0.key"][2] == 0  # an empty cache: baked
    assert high["attention_mask"] == (4, 99 + 32)  # every corner satisfies S = past + T
    longest = max(p.num_virtual_tokens for p in manifest.prefixes)
    assert high["attention_mask"][1] >= longest + 32  # a prefix, a 32-token prompt, new tokens up to max_total
    assert options["trt_fp16_enable"] == "True" and options["trt_engine_cache_enable"] == "True"
    cache = Path(options["trt_engine_cache_path"])
    assert options["trt_timing_cache_path"] == str(cache) and cache.parent == tmp_path / "ort-trt"
    assert cache.name.endswith(f"-ort{onnxruntime.__version__}-fp16")  # a re-export never meets a stale engine
    other = tensorrt_options(ProviderConfig(provider="tensorrt"), replace(manifest, files={}))
    assert Path(other["trt_engine_cache_path"]).name.split("-")[0] != cache.name.split("-")[0]
    assert options["trt_max_workspace_size"] == str(1024 << 20)


def test_bank_profile_includes_the_prefix_selector(tiny_model_dir, peft_adapter, tmp_path):
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    specs = (f"a={peft_adapter('llama', 5, seed=1)}", f"b={peft_adapter('llama', 8, seed=2)}")
    path = export_bundle(ExportConfig(str(tiny_model_dir("llama")), specs, tmp_path / "b", mode="baked", precisions=()))
    manifest = read_manifest(path)
    graph = onnxruntime.InferenceSession(str(path / "model.onnx"), providers=["CPUExecutionProvider"]).get_inputs()
    assert set(portable_inputs(manifest)) == {arg.name for arg in graph}
    assert "prefix_ids:1" in tensorrt_options(ProviderConfig(provider="tensorrt"), manifest)["trt_profile_min_shapes"]


def test_load_bundle_refuses_a_provider_this_onnxruntime_lacks(tiny_bundle):
    with pytest.raises(PrefixDeployError, match="pip install onnxruntime-gpu"):
        load_bundle(tiny_bundle("switchable"), provider="cuda")
    with pytest.raises(PrefixDeployError, match="TensorrtExecutionProvider"):
        load_bundle(tiny_bundle("switchable"), provider="tensorrt", max_total=64)
    with pytest.raises(PrefixDeployError, match="backend trt runs without it"):
        load_bundle(tiny_bundle("switchable"), backend="trt", provider="cuda")
    with load_bundle(tiny_bundle("switchable"), provider="cpu") as bundle:
        assert bundle.backend.session.get_providers() == ["CPUExecutionProvider"]


def test_a_provider_that_fails_to_start_is_an_error_not_a_silent_cpu_run():
    _check_started([("CUDAExecutionProvider", {}), "CPUExecutionProvider"], ["CUDAExecutionProvider", "CPU"])
    with pytest.raises(PrefixDeployError, match="could not start CUDAExecutionProvider and fell back to CPU"):
        _check_started([("CUDAExecutionProvider", {}), "CPUExecutionProvider"], ["CPUExecutionProvider"])


@pytest.mark.parametrize("command", ["run", "bench"])
@pytest.mark.parametrize("provider", ["cuda", "tensorrt"])
def test_cli_provider_unavailable_is_one_line(tiny_bundle, command, provider):
    args = [command, str(tiny_bundle("switchable")), "--provider", provider]
    args += ["--prefix", "summ", "hello"] if command == "run" else ["--repetitions", "1"]
    result = CliRunner().invoke(main, args)
    assert_user_error(result.exit_code, result.stderr, f"--provider {provider}", "onnxruntime-gpu")
