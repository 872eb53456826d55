"""KV buffers on the session's device (`ort_kv.DeviceKV`), run on the CPU provider as CI can: exactly the tokens,
logits and caches of the host buffers (`HostKV`, the path every other test runs), prefixes uploaded once, and a
decode step that binds nothing of the cache: only token ids, mask and positions go in, and ONNX Runtime writes each
layer's present where the past is, in the device buffer.

The CUDA provider runs this same code with device "cuda"; no GPU has run it here (docs/gpu.md, "KV on the device").
"""

from __future__ import annotations

import gc

import numpy as np
import pytest
from tiny_models import FAMILIES

from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.backends.ort_kv import DeviceKV, HostKV
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.kv import KVSlots

PROMPTS = ["the quick brown fox", "hello", "a b c d e f g h"]
NAMES = ["summ", None, "qa"]
REPETITIVE = "the cat sat on the mat. the cat sat on the mat. the cat sat on"


@pytest.fixture(scope="module")
def fp16_bundle(tiny_model_dir, peft_adapter, tmp_path_factory):
    """The tiny llama with fp32 and fp16 ONNX Runtime graphs; prefixes 'summ' (P=5) and 'qa' (P=8)."""
    specs = (f"summ={peft_adapter('llama', 5, seed=1)}", f"qa={peft_adapter('llama', 8, seed=2)}")
    out = tmp_path_factory.mktemp("device-kv") / "bundle"
    return export_bundle(ExportConfig(str(tiny_model_dir("llama")), specs, out, precisions=("fp32", "fp16")))


def everything(path, device_kv: bool, precision: str | None = None) -> dict:
    """What generation, prompt lookup, teacher forcing and cache filling give with the KV buffers on or off device."""
    with load_bundle(path, precision=precision, device_kv=device_kv) as b:
        kind = type(KVSlots(b.backend, b.manifest, 1, 4).kv)
        assert kind is (DeviceKV if device_kv else HostKV)
        ids = [b.encode(p) for p in PROMPTS]
        steps = list(b.steps(ids, NAMES, GenerationConfig(max_new_tokens=10, ignore_eos=True)))
        sampled = GenerationConfig(max_new_tokens=10, temperature=0.8, seed=3, ignore_eos=True)
        lookup = GenerationConfig(max_new_tokens=16, prompt_lookup=4, ignore_eos=True)  # extend and rewind
        return {
            "tokens": [s.tokens.tolist() for s in steps],
            "logits": np.stack([s.logits for s in steps]),  # (steps, B, V)
            "sampled": b.generate_ids(ids, NAMES, sampled),
            "lookup": b.generate_ids([b.encode(REPETITIVE)], ["qa"], lookup),
            "scores": b.score(b.encode("the quick brown fox jumps"), "qa").logprobs,
            "cache": b.fill_cache(b.encode("hello there"), "summ"),  # read back from the buffer
        }


def assert_identical(host: dict, device: dict) -> None:
    assert device["tokens"] == host["tokens"] and device["sampled"] == host["sampled"]
    assert device["lookup"] == host["lookup"]
    assert np.array_equal(device["logits"], host["logits"]) and np.array_equal(device["scores"], host["scores"])
    assert all(np.array_equal(d, h) and d.dtype == np.float32 for d, h in zip(device["cache"], host["cache"]))


@pytest.mark.parametrize("kind", FAMILIES)
def test_device_kv_gives_the_host_buffers_tokens_logits_and_caches(tiny_bundle, kind):
    path = tiny_bundle("switchable", kind)
    assert_identical(everything(path, device_kv=False), everything(path, device_kv=True))


def test_an_fp16_graph_keeps_its_cache_in_float16_on_either_side(fp16_bundle):
    with load_bundle(fp16_bundle, precision="fp16") as b:
        assert KVSlots(b.backend, b.manifest, 1, 4).kv.dtype == np.float16  # the graph's past dtype
    assert_identical(everything(fp16_bundle, False, "fp16"), everything(fp16_bundle, True, "fp16"))


def filled_slots(bundle, rows: int) -> KVSlots:
    """`rows` slots of 64 positions seeded with 'summ', none, 'qa', … and prefilled with PROMPTS."""
    slots = KVSlots(bundle.backend, bundle.manifest, rows, 64)
    for r in range(rows):
        slots.seed(r, bundle.resolve(NAMES[r % 3]))
        slots.prefill(r, bundle.encode(PROMPTS[r % 3]))
    return slots


def test_seed_move_and_read_agree_with_the_host_buffers(tiny_bundle):
    """A row leaves slot 0 and the last row moves into it (the engine's compaction), then the rest decode on."""
    logits, caches = {}, {}
    for device_kv in (False, True):
        with load_bundle(tiny_bundle("switchable"), device_kv=device_kv) as b:
            slots = filled_slots(b, 4)
            got = [slots.decode(np.array([5, 6, 7, 8]))]
            slots.move(3, 0)
            got += [slots.decode(np.array([9, 10, 11])) for _ in range(2)]  # (3, V) each
            logits[device_kv], caches[device_kv] = got, [slots.row_kv(r) for r in range(3)]
    assert all(np.array_equal(d, h) for d, h in zip(logits[True], logits[False]))
    assert all(np.array_equal(d, h) for dev, host in zip(caches[True], caches[False]) for d, h in zip(dev, host))


@pytest.mark.parametrize("kind", ["llama", "gpt2"])  # gpt2: learned positions, so position_ids is fed too
def test_a_decode_step_moves_only_ids_mask_and_positions(tiny_bundle, kind):
    with load_bundle(tiny_bundle("switchable", kind), device_kv=True) as b:
        slots, n = filled_slots(b, 3), 3
        before = [slots.row_kv(r)[0] for r in range(n)]
        wanted = {io_names.INPUT_IDS, io_names.ATTENTION_MASK, io_names.LOGITS_TO_KEEP}  # (n, 1), (n, S), (1,)
        if kind == "gpt2":
            wanted.add(io_names.POSITION_IDS)  # (n, 1)
        for _ in range(4):
            slots.decode(np.array([5, 6, 7]))
            binding = slots._first[n]
            assert set(binding.fed) == wanted
            width = int(slots.lengths[:n].max())
            assert sum(binding.fed.values()) <= 8 * (n * (width + 2) + 1)  # int64 ids, positions, mask, logits_to_keep
        # ONNX Runtime's own account of where it wrote each present: the bound blocks of the device buffer.
        written = [value.data_ptr() for value in binding.io.get_outputs()]  # the logits (to the host), each present
        L = b.manifest.model.num_layers
        bound = {slots.kv.past(i, k, 0, n).ptr for i in range(L) for k in (0, 1)}
        assert len(written) == 2 * L + 1 and bound <= set(written)
        after = [slots.row_kv(r)[0] for r in range(n)]  # (L, H_kv, S, D), 4 positions longer: written in place
        assert all(a.shape[2] == p.shape[2] + 4 and np.array_equal(a[:, :, :-4], p) for a, p in zip(after, before))
        assert all(np.abs(a[:, :, -4:]).sum() > 0 for a in after)


def test_a_prefix_is_uploaded_once_and_dropped_with_it(tiny_bundle):
    config = GenerationConfig(max_new_tokens=3, ignore_eos=True)
    with load_bundle(tiny_bundle("switchable"), device_kv=True) as b:
        ids = [b.encode("hello")]
        b.generate_ids(ids, ["summ"], config)
        uploads = b.backend._copies._uploads  # Prefix -> {dtype: (host rows, OrtValue)}
        first = uploads[b.prefixes["summ"]][np.dtype(np.float32)][1]
        for _ in range(2):  # each call makes new KV slots; the prefix stays where it was uploaded
            b.generate_ids(ids, ["summ"], config)
        assert len(uploads) == 1 and uploads[b.prefixes["summ"]][np.dtype(np.float32)][1] is first
        b.add_prefix(b.prefixes["qa"].renamed("extra"))
        b.generate_ids(ids, ["extra"], config)
        assert len(uploads) == 2
        del b.prefixes["extra"]
        gc.collect()
        assert len(uploads) == 1
