"""The check that a bundle's mixed-step graph, through `KVSlots.mixed`, gives what `decode` and `prefill` give apart:
the same logits and the same caches (shared by the runtime's and the families' tests)."""

from __future__ import annotations

import numpy as np

from prefixdeploy.runtime.kv import KVSlots

ROWS, SLOT_LENGTH = 3, 64


def filled(bundle, prefix: str, seed: int = 1) -> KVSlots:
    """ROWS + 1 slots: rows 0..ROWS−1 with a prefix (or none) and a prompt each, the last one with `prefix` only."""
    slots = KVSlots(bundle.backend, bundle.manifest, ROWS + 1, SLOT_LENGTH)
    rng = np.random.default_rng(seed)
    names = [*sorted(bundle.prefixes), None]
    for r in range(ROWS):
        slots.seed(r, bundle.prefixes.get(names[r % len(names)]))
        slots.prefill(r, rng.integers(3, bundle.manifest.vocab_size, 4 + 3 * r).tolist())
    slots.seed(ROWS, bundle.prefixes[prefix])
    return slots


def assert_mixed_equals_apart(bundle, prefix: str, tolerance: float = 1e-5) -> None:
    """Three chunks of one prompt (the last choosing a token) beside decoding rows, mixed and apart."""
    apart, mixed = filled(bundle, prefix), filled(bundle, prefix)
    rng = np.random.default_rng(2)
    for T, last in ((5, False), (1, False), (7, True)):
        tokens = rng.integers(3, bundle.manifest.vocab_size, ROWS)
        ids = rng.integers(3, bundle.manifest.vocab_size, T).tolist()
        decoded, chunk = apart.decode(tokens), apart.prefill(ROWS, ids)
        got_decoded, got_chunk = mixed.mixed(tokens, ROWS, ids, last)
        np.testing.assert_allclose(got_decoded, decoded, rtol=tolerance, atol=tolerance)
        assert (got_chunk is None) != last
        if last:
            np.testing.assert_allclose(got_chunk, chunk, rtol=tolerance, atol=tolerance)
        assert (mixed.lengths == apart.lengths).all()
    for slot in range(ROWS + 1):
        for a, b in zip(apart.row_kv(slot), mixed.row_kv(slot)):
            np.testing.assert_allclose(b, a, rtol=tolerance, atol=tolerance)
