"""The families of issue 22 beyond the parity of test_parity.py: int8/int4 graphs that run and stay close, Gemma's
sliding window with a prompt longer than it, Phi's LongRoPE context, and the rotary dims ONNX Runtime cannot fuse
(the refusals of each family's spec are tests/models/test_archs.py's).

Every model here is a tiny random one built from the family's real transformers config class (tests/tiny_models.py):
no checkpoint of these families can be fetched here.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from mixed_check import assert_mixed_equals_apart
from reference import peft_greedy
from tiny_models import NEW_FAMILIES, with_config
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import ContextLengthError
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

PROMPTS = ("the quick brown fox", "hello world, how are you today? prefix tuning")
# Error against the fp32 graph as a fraction of the distance between two prefixes' logits (test_precision's bound).
BOUND = {"int8": 0.2, "int4": 0.8}
GRAPHS = ("model.onnx", "model.ort.fp32.onnx")


def _adapters(peft_adapter, kind: str) -> tuple[str, str]:
    """The adapters test_parity.py made (cached per session): P = 5, and P = 9 with the MLP reparameterization."""
    return f"short={peft_adapter(kind, 5, seed=1, name='short')}", f"long={peft_adapter(kind, 9, True, 2, 'long')}"


@pytest.fixture(scope="module", params=NEW_FAMILIES)
def quantized(request, tiny_model_dir, peft_adapter, tmp_path_factory):
    kind = request.param
    out = tmp_path_factory.mktemp(f"quantized-{kind}") / "bundle"
    config = ExportConfig(str(tiny_model_dir(kind)), _adapters(peft_adapter, kind), out, precisions=("fp32", *BOUND))
    return export_bundle(config)


def first_logits(bundle, prompt: str, prefix: str) -> np.ndarray:
    step = next(iter(bundle.steps([bundle.encode(prompt)], [prefix], GenerationConfig(1, ignore_eos=True))))
    return step.logits[0]  # (V,)


@pytest.mark.parametrize("precision", BOUND)
def test_quantized_graphs_carry_each_rows_prefix(quantized, precision):
    with load_bundle(quantized, precision="fp32") as fp32:
        reference = {(n, p): first_logits(fp32, p, n) for n in ("short", "long") for p in PROMPTS}
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0])]
    greedy = GenerationConfig(max_new_tokens=6, ignore_eos=True)
    with load_bundle(quantized, precision=precision) as bundle:
        for (name, prompt), expected in reference.items():
            other = reference["long" if name == "short" else "short", prompt]
            error, gap = np.abs(first_logits(bundle, prompt, name) - expected).max(), np.abs(other - expected).max()
            assert error < BOUND[precision] * gap, (name, prompt, error, gap)
        alone = [bundle.generate_ids([bundle.encode(p)], [n], greedy)[0] for n, p in rows]
        together = bundle.generate_ids([bundle.encode(p) for _, p in rows], [n for n, _ in rows], greedy)
    assert together == alone


def test_mixed_steps_equal_a_decode_and_a_prefill(quantized):
    """The mixed-step twin splits attention per layer: q/k norms (Qwen3, Gemma) feed its two halves alike."""
    with load_bundle(quantized, precision="fp32", mixed_steps=True) as bundle:
        assert bundle.mixed_graph == "model.ort.fp32.mixed.onnx"
        assert_mixed_equals_apart(bundle, "long")


# -- Gemma's sliding window -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gemma3_text", "gemma2", "phi3"])
def test_a_prompt_longer_than_the_window_sees_the_prefix_as_peft_does(kind, tiny_model_dir, peft_adapter, tmp_path):
    """PEFT puts the prefix at positions 0…P−1 and HF's sliding-window mask treats it as any token: a query at
    position q sees keys at positions above q − window, so the prefix leaves the sliding layers' view (Gemma's global
    layers keep it; Phi-3-mini-4k slides every layer, here with the tiny Phi's weights and a window of 6). With
    window 6, P = 5 and 9, and a 32-token prompt, both graphs must match PEFT at every step."""
    model = tiny_model_dir(kind)
    if kind == "phi3":
        model = with_config(model, tmp_path / "windowed", sliding_window=6)
    window = json.loads((model / "config.json").read_text())["sliding_window"]
    specs = _adapters(peft_adapter, kind)  # the same weights: the adapters fit the windowed copy
    path = export_bundle(ExportConfig(str(model), specs, tmp_path / "bundle"))
    wide = with_config(model, tmp_path / "wide", sliding_window=4096)  # the same weights, no window in reach
    for graph in GRAPHS:
        with load_bundle(path, graph=graph) as bundle:
            ids = bundle.encode(PROMPTS[1])
            assert len(ids) > 4 * window
            for name, spec in (s.split("=", 1) for s in specs):
                steps = list(bundle.steps([ids], [name], GenerationConfig(max_new_tokens=8, ignore_eos=True)))
                tokens, logits = peft_greedy(model, spec, ids, 8)
                assert [int(s.tokens[0]) for s in steps] == tokens
                np.testing.assert_allclose(np.stack([s.logits[0] for s in steps]), logits, atol=1e-4, rtol=0)
    for spec in specs:
        adapter = spec.split("=", 1)[1]
        windowed, unwindowed = peft_greedy(model, adapter, ids, 8)[1], peft_greedy(wide, adapter, ids, 8)[1]
        assert np.abs(unwindowed - windowed).max() > 1e-2, "the window made no difference: the test proves nothing"


# -- Phi's LongRoPE -------------------------------------------------------------------------------------------------


def test_longrope_bundle_ends_its_context_where_hf_switches_to_the_long_factors(tiny_model_dir, peft_adapter, tmp_path):
    """Up to original_max_position_embeddings HF rotates with the short factors, the table in the graph; past it with
    the long ones. So the bundle's context is original_max_position_embeddings, and a longer request is refused."""
    model = tiny_model_dir("phi3")
    config = json.loads((model / "config.json").read_text())
    short = config["rope_parameters"]["original_max_position_embeddings"]
    assert config["rope_parameters"]["rope_type"] == "longrope" and short < config["max_position_embeddings"]
    path = export_bundle(ExportConfig(str(model), _adapters(peft_adapter, "phi3")[:1], tmp_path / "bundle"))
    with load_bundle(path) as bundle:
        assert bundle.manifest.max_context == short
        ids = bundle.encode(PROMPTS[1])
        with pytest.raises(ContextLengthError, match=f"exceeds the model's context of {short}"):
            bundle.generate_ids([ids], ["short"], GenerationConfig(max_new_tokens=short, ignore_eos=True))


# -- the ONNX Runtime graph's refusal -------------------------------------------------------------------------------


def test_rotary_dims_onnx_runtime_cannot_fuse_are_refused_unless_portable_only(tiny_model_dir, tmp_path):
    """Phi-3's partial rotary: GroupQueryAttention rotates R dims only when R/2 is a multiple of 8 (R = 32 · 0.75
    = 24 here); the portable graph rotates any R."""
    model_dir = tiny_model_dir("phi3")
    rope = json.loads((model_dir / "config.json").read_text())["rope_parameters"]
    partial = {key: [1.0] * 12 for key in ("short_factor", "long_factor")} | {"partial_rotary_factor": 0.75}
    model = with_config(model_dir, tmp_path / "model", rope_parameters={**rope, **partial})
    args = ["export", "--model", str(model), "-o", str(tmp_path / "out")]
    result = CliRunner().invoke(main, args)
    assert_user_error(result.exit_code, result.stderr, "24 rotary dims", "partial_rotary_factor", "--portable-only")
    assert CliRunner().invoke(main, [*args, "--portable-only"]).exit_code == 0
