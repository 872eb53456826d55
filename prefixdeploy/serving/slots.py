"""The engine's KV slots: one in-place buffer for `num_slots` rows, prefilled one row at a time, decoded together.

Shape letters: L layers, N slots, n running rows, H_kv kv heads, S slot length, D head dim, T prompt tokens, V vocab.
Slot r's cache is [prefix (P) | prompt | new tokens] from position 0, exactly as `runtime.generate.InPlaceCache` lays
out one row; its length tells the fused attention what row r attends to and where its positions continue. Running
rows occupy slots [0, n), so a decode binds views kv[:, :, :n]; bindings are made once per slot and per n.
"""

from __future__ import annotations

import numpy as np

from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.generate import bind_kv, decode_feeds, extend_feeds, prompt_feeds
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.memory import zeros_in_small_pages
from prefixdeploy.runtime.prefix import Prefix


class SlotCache:
    def __init__(self, backend, manifest: Manifest, num_slots: int, slot_length: int):
        m = manifest.model
        shape = (m.num_layers, 2, num_slots, m.num_key_value_heads, slot_length, m.head_dim)
        self.kv = zeros_in_small_pages(shape, np.float32)  # (L, 2, N, H_kv, S, D); see runtime.memory
        self.backend = backend
        self.positions = io_names.POSITION_IDS in backend.input_names()  # learned positions (GPT-2) need them
        self.extends = io_names.LOGITS_TO_KEEP in backend.input_names()  # graphs exported before it: no `extend`
        self._one: dict[int, object] = {}  # slot -> binding over that slot alone (prefill)
        self._first: dict[int, object] = {}  # n -> binding over slots [0, n) (decode)

    def seed(self, slot: int, prefix: Prefix | None) -> int:
        """Write `prefix`'s keys and values into slot positions [0, P); returns P (0 without a prefix)."""
        if prefix is None:
            return 0
        P = prefix.num_virtual_tokens
        self.kv[:, 0, slot, :, :P] = prefix.key  # (L, H_kv, P, D); prefix keys carry no position encoding
        self.kv[:, 1, slot, :, :P] = prefix.value
        return P

    def prefill(self, slot: int, past: int, ids: list[int]) -> np.ndarray:
        """Feed prompt tokens `ids` to slot `slot` after its `past` filled positions; the last token's logits (V,)."""
        return self._slot(slot).run(prompt_feeds(ids, past, self.positions))[0, -1]  # (V,)

    def extend(self, slot: int, past: int, ids: np.ndarray) -> np.ndarray:
        """Feed tokens `ids` (T,) to slot `slot` after its `past` filled positions; the logits after each, (T, V).
        For prompt lookup's verify: positions past + T onward may later be overwritten (a rejected draft)."""
        return self._slot(slot).run(extend_feeds(ids, past, self.positions))[0]  # (T, V)

    def decode(self, tokens: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """One token per running row: tokens (n,) int64 into slots [0, n) of lengths (n,); logits (n, V)."""
        n = len(tokens)
        if n not in self._first:
            self._first[n] = bind_kv(self.backend, self.kv[:, :, :n])
        return self._first[n].run(decode_feeds(tokens, lengths, self.positions))[:, -1]  # (n, V)

    def _slot(self, slot: int):
        """The binding over `slot` alone (made once)."""
        if slot not in self._one:
            self._one[slot] = bind_kv(self.backend, self.kv[:, :, slot : slot + 1])
        return self._one[slot]

    def move(self, source: int, target: int, length: int) -> None:
        """Copy the first `length` positions of slot `source` into slot `target` (a row changing slots)."""
        self.kv[:, :, target, :, :length] = self.kv[:, :, source, :, :length]  # (L, 2, H_kv, length, D)
