"""benchmarks/llamacpp.py wired to real llama.cpp (skipped without llama-cpp-python: `make bench-llamacpp` builds it):
the greedy runner against recomputing the whole sequence, quantization of a GGUF, and the pair table compare.py
writes, on a GGUF of the tiny random llama model. Speed itself is never asserted.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from repo_root import ROOT

pytest.importorskip("llama_cpp")


@pytest.fixture()
def bench_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    for name in ("compare", "llamacpp"):  # tools/edge has a compare.py too: whoever imported first would win
        monkeypatch.delitem(sys.modules, name, raising=False)
    import compare
    import llamacpp

    return compare, llamacpp


@pytest.fixture(scope="module")
def tiny_gguf(tiny_model_dir, tmp_path_factory):
    """The tiny llama model as an F32 GGUF, written with the gguf package (the converter script does not know the
    tiny tokenizer). Q and K keep Hugging Face's row order: a different but equally deterministic model."""
    return write_gguf(tiny_model_dir("llama"), tmp_path_factory.mktemp("gguf") / "tiny.F32.gguf")


def write_gguf(model_dir, out):
    import gguf
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    writer = gguf.GGUFWriter(str(out), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    vocab = sorted(tokenizer["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = {t["content"] for t in tokenizer["added_tokens"]}
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([3 if token in special else 1 for token, _ in vocab])  # 3: control, 1: normal
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in tokenizer["model"]["merges"]])
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    for name, tensor in load_file(model_dir / "model.safetensors").items():
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight",)), tensor.astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


PROMPT = [5, 17, 40, 3, 99, 120, 7, 8, 64, 33, 250, 12]


def test_runner_tokens_equal_recomputing_the_sequence(bench_modules, tiny_gguf):
    _, llamacpp = bench_modules
    runner = llamacpp.LlamaCpp(tiny_gguf, PROMPT, 8)
    try:
        timing, tokens = runner.run()
        again = runner.run()[1]  # a second request starts from an empty cache
        llm, uncached = runner.llm, []
        for _ in range(8):
            llm.reset()
            llm.eval(PROMPT + uncached)
            uncached.append(runner._argmax())
    finally:
        runner.close()
    assert tokens == again == uncached
    assert timing.tokens == 8 and 0 < timing.ttft < timing.latency


def test_quantized_files_and_the_pair_table(bench_modules, tiny_gguf, tiny_bundle, tmp_path):
    compare, llamacpp = bench_modules
    q8 = llamacpp.quantize(tiny_gguf, tmp_path / "tiny.Q8_0.gguf", "Q8_0")
    assert "q8_0" in llamacpp.tensor_types(q8) and "q8_0" not in llamacpp.tensor_types(tiny_gguf)
    f32_runner = llamacpp.LlamaCpp(tiny_gguf, PROMPT, 4)
    q8_runner = llamacpp.LlamaCpp(q8, PROMPT, 4)
    assert q8_runner.weight_bytes() < f32_runner.weight_bytes() / 3

    bundle = tiny_bundle("switchable")
    ours = compare.Prefixdeploy(bundle, None, "summ", PROMPT, 4)  # its default graph: fp32
    entries = [
        compare.Entry("llama.cpp", "F32", 0, f32_runner, tiny_gguf.name),
        compare.Entry("llama.cpp", "Q8_0", 0, q8_runner, q8.name),
        compare.Entry("prefixdeploy", "fp32", 5, ours),
    ]
    compare.run_interleaved(entries, warmup=0, repetitions=2)
    report = llamacpp.report(entries)
    for e in entries:
        e.runner.close()
    assert [(p["prefixdeploy"], p["llama_cpp"]) for p in report["pairs"]] == [("fp32", "F32")]  # no int8 row
    pair = report["pairs"][0]
    assert all(pair[m]["ratio"] > 0 and len(pair[m]["quartiles"]) == 3 for m in ("tpot", "ttft", "latency"))
    text = "\n".join(llamacpp.render(report))
    assert "| fp32 | F32 |" in text and "tiny.Q8_0.gguf" in text and "llama-cpp-python 0.3" in text
    assert llamacpp.render(None) == []
