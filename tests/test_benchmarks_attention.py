"""benchmarks/attention_kernels.py builds both forms right: the grouped MatMuls are softmax(q kᵀ / √D) v with three
query heads per kv head, and GroupQueryAttention runs over its shared buffer. Speed itself is never asserted."""

from __future__ import annotations

import sys

import numpy as np
from repo_root import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_the_grouped_form_is_attention_with_query_heads_sharing_kv_heads():
    import attention_kernels as ak

    sess = ak.session(ak.grouped_model(), 1)
    binding = ak.grouped_binding(sess, 2, 7, np.random.default_rng(0))
    sess.run_with_iobinding(binding)
    got = binding.copy_outputs_to_cpu()[0]  # (n, H_kv, 3, D)
    rng = np.random.default_rng(0)  # the binding's inputs, drawn again in the same order
    q = rng.random((2, ak.KV_HEADS, ak.GROUP, ak.DIM), np.float32)
    k, v = (rng.random((2, ak.KV_HEADS, 7, ak.DIM), np.float32) for _ in range(2))
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(ak.DIM)  # (n, H_kv, 3, L)
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    expected = probs / probs.sum(-1, keepdims=True) @ v
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_group_query_attention_runs_over_its_shared_buffer(capsys):
    import attention_kernels as ak

    ak.main(["--rows", "2", "--lengths", "5", "--slot-length", "16", "--rounds", "1", "--calls", "2"])
    assert "| 2 | 5 |" in capsys.readouterr().out
