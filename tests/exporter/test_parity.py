"""Headline parity: bundles against PEFT's forward(), per family, per mode, for prefix switching and mixed batches.

fp32 logits within 1e-4 of the reference at every step; greedy tokens identical over 32 new tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
from reference import peft_greedy
from tiny_models import FAMILIES, NEW_FAMILIES

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.models.archs import REGISTRY
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

ATOL = 1e-4
N_NEW = 32
PROMPTS = ("the quick brown fox", "hello world, how are you today? prefix tuning")
GREEDY = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True)
# The portable graph (standard ops) and the ONNX Runtime variant derived from it (fused attention, in-place cache).
GRAPHS = {"portable": "model.onnx", "ort": "model.ort.fp32.onnx"}


KINDS = FAMILIES + NEW_FAMILIES  # "llama3" is a llama model (rope_type llama3, tied embeddings)


def test_every_registered_family_has_a_parity_fixture():
    assert set(REGISTRY) <= set(KINDS), f"families without a parity fixture: {set(REGISTRY) - set(KINDS)}"


@pytest.fixture(scope="module", params=KINDS)
def family(request, tiny_model_dir, peft_adapter, tmp_path_factory):
    """A family's tiny model, two adapters of different lengths (one with the MLP reparameterization), and bundles."""
    kind = request.param
    model = tiny_model_dir(kind)
    adapters = {"short": peft_adapter(kind, 5, seed=1, name="short"), "long": peft_adapter(kind, 9, True, 2, "long")}
    out = tmp_path_factory.mktemp(f"bundles-{kind}")
    specs = tuple(str(a) for a in adapters.values())
    bundles = {
        "switchable": export_bundle(ExportConfig(str(model), specs, out / "switchable")),
        "baked": export_bundle(ExportConfig(str(model), specs[:1], out / "baked", mode="baked")),
        "bank": export_bundle(ExportConfig(str(model), specs, out / "bank", mode="baked")),
    }
    return model, adapters, bundles


def _steps(bundle, prompts, prefixes):
    ids = [bundle.encode(p) for p in prompts]
    steps = list(bundle.steps(ids, prefixes, GREEDY))
    tokens = np.stack([s.tokens for s in steps], axis=1)  # (B, N_NEW)
    logits = np.stack([s.logits for s in steps], axis=1)  # (B, N_NEW, V)
    return ids, tokens, logits


def _assert_matches_reference(model, adapter, ids, tokens, logits):
    ref_tokens, ref_logits = peft_greedy(model, adapter, ids, N_NEW)
    assert tokens.tolist() == ref_tokens
    np.testing.assert_allclose(logits, ref_logits, atol=ATOL, rtol=0)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("mode", ["switchable", "baked", "bank"])
def test_single_row_matches_peft(family, mode, graph):
    model, adapters, bundles = family
    name = "short"
    with load_bundle(bundles[mode], graph=GRAPHS[graph]) as bundle:
        for prompt in PROMPTS:
            ids, tokens, logits = _steps(bundle, [prompt], [name if mode != "baked" else None])
            _assert_matches_reference(model, adapters[name], ids[0], tokens[0], logits[0])


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("mode", ["switchable", "bank"])
def test_mixed_prefix_batch_matches_each_rows_reference(family, mode, graph):
    """Rows with different prefixes (lengths 5 and 9) and different prompt lengths, in one forward pass per step."""
    model, adapters, bundles = family
    rows = [("short", PROMPTS[0]), ("long", PROMPTS[1]), ("long", PROMPTS[0]), ("short", PROMPTS[1])]
    if mode == "switchable":
        rows.append((None, PROMPTS[1]))  # no prefix at all, beside prefixed rows
    with load_bundle(bundles[mode], graph=GRAPHS[graph]) as bundle:
        ids, tokens, logits = _steps(bundle, [p for _, p in rows], [n for n, _ in rows])
    for r, (name, _) in enumerate(rows):
        _assert_matches_reference(model, adapters.get(name), ids[r], tokens[r], logits[r])


@pytest.mark.parametrize("graph", GRAPHS)
def test_alternating_prefixes_call_by_call(family, graph):
    """One loaded bundle, the prefix switched on every call: each call gives its own prefix's reference."""
    model, adapters, bundles = family
    with load_bundle(bundles["switchable"], graph=GRAPHS[graph]) as bundle:
        session = bundle.backend.session
        for name in ["short", "long", "short", "long"]:
            ids, tokens, logits = _steps(bundle, [PROMPTS[0]], [name])
            _assert_matches_reference(model, adapters[name], ids[0], tokens[0], logits[0])
        assert bundle.backend.session is session  # no session rebuild
