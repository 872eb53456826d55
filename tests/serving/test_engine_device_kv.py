"""The serving engine's slots on the device (`ort_kv.DeviceKV`, on the CPU provider as CI can): every output equals
the single-request output of the host buffers (today's path), through slot reuse, moves and prompt lookup.

The engine goes through `runtime.kv.KVSlots` alone, so the buffer's place is the backend's choice (`device_kv`).
"""

from __future__ import annotations

import asyncio

import pytest
from engine_cases import GREEDY, collect, mixed_cases, serving, single, submit_staggered

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime.backends.ort_kv import DeviceKV
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.serving.engine.engine import SamplingParams

REPETITIVE = "the cat sat on the mat. the cat sat on the mat. the cat sat on the mat. the cat sat on"


@pytest.fixture(scope="module")
def bundle_path(tiny_model_dir, peft_adapter, tmp_path_factory):
    """The tiny llama with fp32 and fp16 ONNX Runtime graphs; prefixes 'summ' (P=5) and 'qa' (P=8)."""
    specs = (f"summ={peft_adapter('llama', 5, seed=1)}", f"qa={peft_adapter('llama', 8, seed=2)}")
    out = tmp_path_factory.mktemp("engine-device-kv") / "bundle"
    return export_bundle(ExportConfig(str(tiny_model_dir("llama")), specs, out, precisions=("fp32", "fp16")))


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_a_busy_batch_on_device_slots_returns_the_host_path_s_outputs(bundle_path, precision):
    """20 staggered requests through 3 slots and 7-token prefill chunks: rows leave at different steps, so later
    rows move into their slots; each output equals its single request's with host buffers."""
    with load_bundle(bundle_path, precision=precision, device_kv=False) as host:
        cases = mixed_cases(host, 20, seed=5)
        want = [single(host, ids, name, n, ignore_eos=True) for ids, name, n in cases]
        lone = host.encode(REPETITIVE)
        want_lone = single(host, lone, "qa", 24, ignore_eos=True)
    with load_bundle(bundle_path, precision=precision, device_kv=True) as b:
        with serving(b, max_num_seqs=3, max_prefill_tokens=7) as engine:
            got = asyncio.run(submit_staggered(engine, b, cases, GREEDY))
            slots = engine._executor.slots
            assert isinstance(slots.kv, DeviceKV) and slots.kv._moves  # rows did change slots
        with serving(b, max_num_seqs=2, prompt_lookup=6) as engine:  # a lone greedy row drafts: extend, rewind

            async def alone():
                return await collect(engine.submit(lone, b.prefixes["qa"], SamplingParams(max_tokens=24, **GREEDY)))

            got_lone, _, _ = asyncio.run(alone())
    assert [tokens for tokens, _, _ in got] == want
    assert got_lone == want_lone
