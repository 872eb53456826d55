"""TensorRT backend: greedy tokens equal ONNX Runtime's and logits agree within 1e-3 (fp32 engine), mixed-prefix
batches, the on-disk engine cache, profile limits, and a clear error where TensorRT is missing.

The GPU tests (marked `trt`) skip, saying why, where `tensorrt` does not import or no CUDA device is present; the
missing-package test runs exactly where `tensorrt` is absent. The axis-name, cache-key and option tests run anywhere.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from click.testing import CliRunner

from prefixdeploy.cli import main
from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.backends.ort import OrtBackend
from prefixdeploy.runtime.backends.trt import (
    BATCH,
    PAST,
    SEQUENCE,
    TOTAL,
    TrtBackend,
    TrtConfig,
    bundle_options,
    engine_cache_key,
    tensor_axes,
)
from prefixdeploy.runtime.backends.trt.config import DecoderShape, profile_memory
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

ATOL = 1e-3  # fp32 engine vs ONNX Runtime on CPU: different kernels, same math
N_NEW = 16
GREEDY = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True)
PROMPTS = ("the quick brown fox", "hello world, how are you today? prefix tuning")
TRT_LOG = "prefixdeploy.runtime.backends.trt"


def _tensorrt_import_error() -> str | None:
    try:
        import tensorrt  # noqa: F401
    except (ImportError, OSError) as e:
        return str(e)
    return None


def _why_no_gpu() -> str | None:
    if _tensorrt_import_error() is not None:
        return (
            "tensorrt is not installed here: its wheels come from NVIDIA's package index, which this machine cannot "
            "reach; runs on GPU machines"
        )
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart
        except ImportError:
            return "cuda-python is not installed (pip install 'prefixdeploy[trt]')"
    err, count = cudart.cudaGetDeviceCount()
    if err != cudart.cudaError_t.cudaSuccess or count < 1:
        return f"no CUDA device is present ({err})"
    return None


NO_GPU = _why_no_gpu()
needs_gpu = pytest.mark.skipif(NO_GPU is not None, reason=NO_GPU or "")


@pytest.fixture(scope="module")
def bundle_path(tiny_model_dir, peft_adapter, tmp_path_factory):
    """bundle_path(mode) -> a tiny llama bundle: prefixes 'summ' (P=5) and 'qa' (P=8, MLP-reparameterized)."""
    made = {}

    def get(mode: str = "switchable"):
        if mode not in made:
            specs = (f"summ={peft_adapter('llama', 5, seed=1)}", f"qa={peft_adapter('llama', 8, True, 2)}")
            out = tmp_path_factory.mktemp(f"trt-{mode}") / "bundle"
            config = ExportConfig(
                model=str(tiny_model_dir("llama")),
                prefixes=specs[:1] if mode == "baked" else specs,
                output=out,
                mode="switchable" if mode == "switchable" else "baked",
            )
            made[mode] = export_bundle(config)
        return made[mode]

    return get


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("trt-engines")


def _steps(bundle, prompts, prefixes):
    ids = [bundle.encode(p) for p in prompts]
    steps = list(bundle.steps(ids, prefixes, GREEDY))
    tokens = np.stack([s.tokens for s in steps], axis=1)  # (B, N_NEW)
    logits = np.stack([s.logits for s in steps], axis=1)  # (B, N_NEW, V)
    return tokens, logits


def _assert_same_as_ort(path, cache, prompts, prefixes):
    with load_bundle(path) as ort, load_bundle(path, backend="trt", cache_dir=cache) as trt:
        assert type(trt.backend) is TrtBackend
        ort_tokens, ort_logits = _steps(ort, prompts, prefixes)
        trt_tokens, trt_logits = _steps(trt, prompts, prefixes)
    assert trt_tokens.tolist() == ort_tokens.tolist()
    np.testing.assert_allclose(trt_logits, ort_logits, atol=ATOL, rtol=0)


# -- anywhere ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["switchable", "baked", "bank"])
def test_every_dynamic_axis_of_the_graph_gets_a_range(bundle_path, mode):
    """The backend bounds each dynamic axis by the tensor's name; the names must match what the exporter wrote."""
    backend = OrtBackend(bundle_path(mode) / "model.onnx")
    for spec in backend.inputs + backend.outputs:
        written = tuple(d if isinstance(d, str) else None for d in spec.shape)
        assert tensor_axes(spec.name, len(spec.shape)) == written, spec
    backend.close()


def test_engine_cache_key_covers_graph_weights_tensorrt_gpu_and_options(tmp_path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"graph")
    (tmp_path / "model.onnx.data").write_bytes(b"weights")
    key = engine_cache_key(model, TrtConfig(), "10.3.0", "Orin sm_87")
    assert key == engine_cache_key(model, TrtConfig(), "10.3.0", "Orin sm_87")
    others = {
        engine_cache_key(model, TrtConfig(fp16=True), "10.3.0", "Orin sm_87"),
        engine_cache_key(model, TrtConfig(max_batch=2), "10.3.0", "Orin sm_87"),  # not the default
        engine_cache_key(model, TrtConfig(), "10.4.0", "Orin sm_87"),
        engine_cache_key(model, TrtConfig(), "10.3.0", "NVIDIA L4 sm_89"),
    }
    (tmp_path / "model.onnx.data").write_bytes(b"other weights")
    others.add(engine_cache_key(model, TrtConfig(), "10.3.0", "Orin sm_87"))
    assert key not in others and len(others) == 5


@pytest.mark.parametrize("config", [TrtConfig(), TrtConfig(max_batch=1, max_sequence=1, max_total=1)])
def test_every_corner_of_the_profile_is_a_consistent_shape(config):
    """TensorRT checks the all-min, all-opt and all-max points as shapes: each needs S = past + T, and 1 ≤ T."""
    r = config.ranges()
    for corner in range(3):
        assert r[TOTAL][corner] == r[PAST][corner] + r[SEQUENCE][corner]
        assert r[SEQUENCE][corner] >= 1 and r[BATCH][corner] >= 1
    assert r[PAST][2] + 1 == config.max_total  # a decode step (T = 1) reaches S = max_total
    assert r[SEQUENCE][2] == config.max_sequence and r[BATCH][2] == config.max_batch


def test_options_are_checked_before_tensorrt_is_needed(tmp_path):
    with pytest.raises(PrefixDeployError, match=r"max_sequence \(4096\) exceeds max_total \(2048\)"):
        TrtBackend(tmp_path / "model.onnx", max_sequence=4096, max_total=2048)
    with pytest.raises(PrefixDeployError, match="max_batch must be a positive integer"):
        TrtBackend(tmp_path / "model.onnx", max_batch=0)


def test_load_bundle_defaults_follow_the_config_within_the_model_context():
    assert bundle_options({}, 8192) == {"max_total": 1024, "max_sequence": 256}  # not the whole 8k context
    assert bundle_options({}, 128) == {"max_total": 128, "max_sequence": 128}
    assert bundle_options({"max_total": 4096, "max_batch": 2}, 8192) == {
        "max_total": 4096,
        "max_sequence": 256,
        "max_batch": 2,
    }


def test_default_profile_memory_is_docs_arithmetic():
    """docs/tensorrt.md's rows for the defaults: SmolLM2-135M and Llama-3.2-1B at the profile's max corner, MiB."""
    fields = ("num_layers", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size", "vocab_size")
    documented = {
        (30, 9, 3, 64, 1536, 49152): {"past": 180, "present": 225, "logits": 192, "activations": 108},  # SmolLM2
        (16, 32, 8, 64, 8192, 128256): {"past": 256, "present": 320, "logits": 501, "activations": 416},  # Llama 1B
    }
    for sizes, mib in documented.items():
        got = profile_memory(DecoderShape(**dict(zip(fields, sizes))), TrtConfig())
        assert {k: round(v / 2**20) for k, v in got.items()} == mib


@pytest.mark.skipif(_tensorrt_import_error() is None, reason="tensorrt is installed here: the GPU tests run instead")
def test_missing_tensorrt_is_a_clear_user_error(bundle_path):
    path = bundle_path("switchable")
    with pytest.raises(PrefixDeployError) as info:
        load_bundle(path, backend="trt")
    message = str(info.value)
    for needle in ("tensorrt", "cuda-python", "pip install 'prefixdeploy[trt]'", "NVIDIA GPU", "backend='ort'"):
        assert needle in message, message
    result = CliRunner().invoke(main, ["run", str(path), "hello", "--prefix", "summ", "--backend", "trt"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'prefixdeploy[trt]'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr


# -- on a GPU ----------------------------------------------------------------------------------------------------------


@pytest.mark.trt
@needs_gpu
@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_greedy_tokens_and_logits_match_onnx_runtime(bundle_path, engine_cache, mode):
    prefix = "summ" if mode == "switchable" else None  # baked: the graph applies its prefix itself (empty past)
    for prompt in PROMPTS:
        _assert_same_as_ort(bundle_path(mode), engine_cache, [prompt], [prefix])


@pytest.mark.trt
@needs_gpu
def test_mixed_prefix_batch_matches_onnx_runtime(bundle_path, engine_cache):
    """Rows with prefixes of lengths 5 and 8 and none, different prompt lengths, one forward pass per step."""
    rows = [("summ", PROMPTS[0]), ("qa", PROMPTS[1]), (None, PROMPTS[1]), ("qa", PROMPTS[0])]
    _assert_same_as_ort(bundle_path("switchable"), engine_cache, [p for _, p in rows], [n for n, _ in rows])


@pytest.mark.trt
@needs_gpu
def test_engine_is_built_once_and_reused_from_the_cache(bundle_path, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger=TRT_LOG)
    path = bundle_path("switchable")
    with load_bundle(path, backend="trt", cache_dir=tmp_path) as first:
        engine = first.backend.engine_path
        tokens = first.generate(["hello"], ["qa"], GREEDY)[0].token_ids
    assert engine.is_file() and engine.parent == tmp_path
    assert "building a TensorRT engine" in caplog.text
    built = engine.stat().st_mtime_ns

    caplog.clear()
    with load_bundle(path, backend="trt", cache_dir=tmp_path) as second:
        assert second.backend.engine_path == engine
        assert second.generate(["hello"], ["qa"], GREEDY)[0].token_ids == tokens
    assert "loaded the cached TensorRT engine" in caplog.text
    assert "building a TensorRT engine" not in caplog.text
    assert engine.stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir()] == [engine.name]

    with load_bundle(path, backend="trt", cache_dir=tmp_path, max_batch=2) as other:  # other options: another engine
        assert other.backend.engine_path != engine
    assert len(list(tmp_path.glob("*.engine"))) == 2


@pytest.mark.trt
@needs_gpu
def test_a_batch_beyond_the_engine_profile_names_the_option_to_raise(bundle_path, tmp_path):
    with load_bundle(bundle_path("switchable"), backend="trt", cache_dir=tmp_path, max_batch=2) as bundle:
        with pytest.raises(PrefixDeployError, match=r"batch_size 3, outside .* range 1\.\.2.*max_batch="):
            bundle.generate(["a", "b", "c"], ["summ", "qa", None], GREEDY)
