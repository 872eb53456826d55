"""The mixed-step graph (exporter.optimize.mixed) through `KVSlots.mixed`: decode rows and one row's prompt chunk in
one forward give what `decode` and `prefill` give apart (the same logits and the same caches), in every family
(the newer families: tests/exporter/test_families.py)."""

from __future__ import annotations

import pytest
from mixed_check import assert_mixed_equals_apart
from tiny_models import FAMILIES

from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.bundle import load_bundle


@pytest.mark.parametrize("kind", FAMILIES)
def test_one_mixed_forward_equals_a_decode_and_a_prefill(tiny_bundle, kind):
    with load_bundle(tiny_bundle("switchable", kind), mixed_steps=True) as bundle:
        assert_mixed_equals_apart(bundle, "qa")


def test_a_mixed_forward_over_device_kv_buffers(tiny_bundle):
    """The buffers as an OrtValue on the session's device (the CUDA provider's path; its CPU form here)."""
    with load_bundle(tiny_bundle("switchable"), mixed_steps=True, device_kv=True) as bundle:
        assert_mixed_equals_apart(bundle, "qa")


def test_the_mixed_graph_takes_a_packed_sequence_and_two_kv_bindings(tiny_bundle):
    with load_bundle(tiny_bundle("switchable"), mixed_steps=True) as bundle:
        session = bundle.backend.mixed_session
        inputs = {a.name: a.shape for a in session.get_inputs()}
        outputs = {a.name: a.shape for a in session.get_outputs()}
    layers = bundle.manifest.model.num_layers
    assert inputs[io_names.INPUT_IDS] == [1, "packed_length"] and io_names.LOGITS_TO_KEEP not in inputs
    assert inputs[io_names.PREFILL_ATTENTION_MASK][0] == 1 and io_names.LOGIT_POSITIONS in inputs
    for i in range(layers):
        assert inputs[io_names.PREFILL_PAST_KEY.format(i)][0] == 1
        assert outputs[io_names.PREFILL_PRESENT_VALUE.format(i)][0] == 1
        assert io_names.PRESENT_KEY.format(i) in outputs
    assert outputs[io_names.LOGITS][:2] == [1, "logit_positions"]


def test_runs_and_benchmarks_load_no_mixed_graph_unless_asked(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as bundle:
        assert bundle.mixed_graph is None and bundle.backend.mixed_session is None
        assert "model.ort.fp32.mixed.onnx" in bundle.manifest.files  # exported, hashed, not loaded
