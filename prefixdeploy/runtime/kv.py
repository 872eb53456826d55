"""The one manager of in-place KV buffers: N slots, each one row's cache, fed one row at a time or decoded together.

Used by the runtime's generation (`caches.InPlaceCache`, one slot per row of a batch) and by the serving engine (one
slot per running request). Must not import torch.

Shape letters: L layers, N slots, n rows decoding, H_kv kv heads, S slot length, D head dim, T tokens fed, V vocab.
Slot r's cache is [prefix (P) | prompt | new tokens] from position 0; `lengths[r]` counts its filled positions, which
tells the fused attention what row r attends to and where its positions continue (PEFT's P, P+1, …). Rows that
decode together occupy slots [0, n), so a decode binds the blocks kv[l, k, :n] by address; bindings are made once
per slot and per n. The buffer is the backend's (`OrtBackend.kv_buffer`): on the session's device (a GPU's memory:
a decode step then moves only token ids, mask and positions in and the logits out) or in host numpy; its dtype is
the graph's past inputs' (fp16 graphs: float16). The fused attention (GroupQueryAttention) takes several new tokens
over a past only at batch 1, so `prefill` and `extend` feed one slot, and `decode` feeds one token per slot;
`mixed` runs a decode and one slot's chunk in one forward of the graph's mixed-step twin (`exporter.optimize.mixed`,
attention split per layer), where the backend holds one.

The protocol: `seed` (a prefix into a slot), `prefill` (prompt tokens, last logits), `extend` (tokens, every
position's logits: a prompt-lookup verify), `rewind` (forget a slot's last tokens: a rejected draft), `decode` (one
token per slot of [0, n)), `mixed` (a decode and a prefill in one forward), `move` (a row changing slots).
"""

from __future__ import annotations

import numpy as np

from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.backends.ort_kv import KVBuffer
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import Prefix


class KVSlots:
    """`num_slots` rows of `slot_length` positions in one buffer (L, 2, N, H_kv, S, D), written in place."""

    def __init__(self, backend, manifest: Manifest, num_slots: int, slot_length: int):
        m = manifest.model
        shape = (m.num_layers, 2, num_slots, m.num_key_value_heads, slot_length, m.head_dim)
        dtype = next(s.dtype for s in backend.inputs if s.name == io_names.PAST_KEY.format(0))
        self.kv: KVBuffer = backend.kv_buffer(shape, dtype)  # (L, 2, N, H_kv, S, D)
        self.lengths = np.zeros(num_slots, np.int64)  # (N,) filled positions per slot
        self.backend = backend
        self.positions = io_names.POSITION_IDS in backend.input_names()  # learned positions (GPT-2) need them
        self.extends = io_names.LOGITS_TO_KEEP in backend.input_names()  # graphs exported before it: no `extend`
        self._one: dict[int, object] = {}  # slot -> binding over that slot alone (prefill, extend)
        self._first: dict[int, object] = {}  # n -> binding over slots [0, n) (decode)
        self._mixed: dict[tuple[int, int], object] = {}  # (n, slot) -> mixed-step binding (decode [0, n) + slot)

    @property
    def mixes(self) -> bool:
        """Whether `mixed` runs: the backend holds a mixed-step twin of its graph."""
        return getattr(self.backend, "mixed_session", None) is not None

    def seed(self, slot: int, prefix: Prefix | None, cached: int = 0) -> int:
        """Start `slot` afresh with `prefix`'s keys and values in positions [0, P); returns P (0 without a prefix).
        cached: the slot already holds `prefix` and this many tokens after it (a prompt cache's); keep those."""
        P = prefix.num_virtual_tokens if prefix is not None else 0
        assert self.lengths[slot] >= P + cached or not cached, "the slot holds fewer tokens than the cache said"
        if P and not cached:
            self.kv.seed(slot, prefix)  # positions [0, P) of every layer; prefix keys carry no position encoding
        self.lengths[slot] = P + cached
        return P

    def prefill(self, slot: int, ids: list[int]) -> np.ndarray:
        """Feed prompt tokens `ids` (T of them) after the slot's filled positions; the last token's logits (V,)."""
        past = int(self.lengths[slot])
        logits = self._slot(slot).run(prompt_feeds(ids, past, self.positions))[0, -1]  # (V,)
        self.lengths[slot] = past + len(ids)
        return logits

    def extend(self, slot: int, ids: np.ndarray) -> np.ndarray:
        """Feed tokens `ids` (T,) after the slot's filled positions; the logits after each, (T, V)."""
        past = int(self.lengths[slot])
        logits = self._slot(slot).run(extend_feeds(ids, past, self.positions))[0]  # (T, V)
        self.lengths[slot] = past + len(ids)
        return logits

    def rewind(self, slot: int, n: int) -> None:
        """Forget the slot's last n tokens; their positions are overwritten by the next forward."""
        self.lengths[slot] -= n

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """One token per row of slots [0, n): tokens (n,) int64; logits (n, V)."""
        n = len(tokens)
        if n not in self._first:
            self._first[n] = bind_kv(self.backend, self.kv, 0, n)
        lengths = self.lengths[:n]  # (n,)
        logits = self._first[n].run(decode_feeds(tokens, lengths, self.positions))[:, -1]  # (n, V)
        self.lengths[:n] += 1
        return logits

    def mixed(self, tokens: np.ndarray, slot: int, ids: list[int], last: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """`decode(tokens)` over slots [0, n) and `prefill(slot, ids)` in one forward of the mixed-step twin (slot ≥
        n); returns the decode logits (n, V) and, when `last` (the chunk ends its prompt), the chunk's last (V,)."""
        n, past = len(tokens), int(self.lengths[slot])
        if (n, slot) not in self._mixed:
            self._mixed[n, slot] = bind_mixed(self.backend, self.kv, n, slot)
        feeds = mixed_feeds(tokens, self.lengths[:n], ids, past, last, self.positions)
        logits = self._mixed[n, slot].run(feeds)[0]  # (K, V): K = n + last
        self.lengths[:n] += 1
        self.lengths[slot] = past + len(ids)
        return logits[:n], logits[n] if last else None

    def move(self, source: int, target: int) -> None:
        """Copy slot `source`'s filled positions into slot `target` (a row changing slots)."""
        length = int(self.lengths[source])
        self.kv.move(source, target, length)
        self.lengths[target] = length

    def row_kv(self, slot: int) -> tuple[np.ndarray, np.ndarray]:
        """The slot's filled positions, keys and values each (L, H_kv, S, D) float32 (copies)."""
        return self.kv.read(slot, int(self.lengths[slot]))

    def row(self, slot: int) -> SlotRow:
        """A one-row view of `slot` with `extend` and `rewind` (what prompt lookup's verify needs)."""
        return SlotRow(self, slot)

    def _slot(self, slot: int):
        """The binding over `slot` alone (made once)."""
        if slot not in self._one:
            self._one[slot] = bind_kv(self.backend, self.kv, slot, 1)
        return self._one[slot]


class SlotRow:
    """One slot of a `KVSlots`, as a batch-1 cache: `extend(ids) -> (T, V)` and `rewind(n)`."""

    def __init__(self, slots: KVSlots, slot: int):
        self.slots, self.slot = slots, slot

    def extend(self, ids: np.ndarray) -> np.ndarray:
        return self.slots.extend(self.slot, ids)  # (T, V)

    def rewind(self, n: int) -> None:
        self.slots.rewind(self.slot, n)


# (past, present) names of keys and values, formatted with the layer; and the mixed-step graph's chunk row's
KV_NAMES = ((io_names.PAST_KEY, io_names.PRESENT_KEY), (io_names.PAST_VALUE, io_names.PRESENT_VALUE))
CHUNK_KV_NAMES = (
    (io_names.PREFILL_PAST_KEY, io_names.PREFILL_PRESENT_KEY),
    (io_names.PREFILL_PAST_VALUE, io_names.PREFILL_PRESENT_VALUE),
)


def bind_kv(backend, kv: KVBuffer, first: int, count: int):
    """An IO binding whose past and present of every layer are the blocks of slots [first, first + count) of `kv`.

    The fused attention reads each past (B, H_kv, S, D) and writes the new positions into it, in place.
    """
    binding = backend.binding()
    for i in range(kv.shape[0]):
        for k, (past, present) in enumerate(KV_NAMES):
            binding.share(past.format(i), present.format(i), kv.past(i, k, first, count))
    return binding


def bind_mixed(backend, kv: KVBuffer, n: int, slot: int):
    """A mixed-step binding: the decode rows' past and present are slots [0, n), the prompt chunk's are `slot`."""
    binding = backend.mixed_binding()
    for i in range(kv.shape[0]):
        for k in (0, 1):
            (past, present), (chunk_past, chunk_present) = KV_NAMES[k], CHUNK_KV_NAMES[k]
            binding.share(past.format(i), present.format(i), kv.past(i, k, 0, n))
            binding.share(chunk_past.format(i), chunk_present.format(i), kv.past(i, k, slot, 1))
    return binding


def mixed_feeds(
    tokens: np.ndarray, lengths: np.ndarray, ids: list[int], past: int, last: bool, positions: bool
) -> dict[str, np.ndarray]:
    """Mixed-step feeds: the decode rows' tokens (n,) after lengths (n,), then the chunk `ids` (T) after `past`,
    packed into one sequence (1, n + T); logits at the decode rows' positions, and at the chunk's last when `last`."""
    n, T = len(tokens), len(ids)
    decode = decode_feeds(tokens, lengths, positions)
    chunk = prompt_feeds(ids, past, positions)
    feeds = {
        io_names.INPUT_IDS: np.concatenate([decode[io_names.INPUT_IDS][:, 0], chunk[io_names.INPUT_IDS][0]])[None],
        io_names.ATTENTION_MASK: decode[io_names.ATTENTION_MASK],  # (n, W)
        io_names.PREFILL_ATTENTION_MASK: chunk[io_names.ATTENTION_MASK],  # (1, past + T)
        io_names.LOGIT_POSITIONS: np.arange(n + 1, dtype=np.int64) if last else np.arange(n, dtype=np.int64),
    }
    if last:
        feeds[io_names.LOGIT_POSITIONS][n] = n + T - 1
    if positions:
        packed = [decode[io_names.POSITION_IDS][:, 0], chunk[io_names.POSITION_IDS][0]]
        feeds[io_names.POSITION_IDS] = np.concatenate(packed)[None]  # (1, n + T)
    return feeds


def prompt_feeds(ids: list[int], past: int, positions: bool) -> dict[str, np.ndarray]:
    """In-place graph feeds for one row's prompt tokens (or a chunk of them) after `past` filled cache slots."""
    T = len(ids)
    feeds = {
        io_names.INPUT_IDS: np.array([ids], np.int64),  # (1, T)
        io_names.ATTENTION_MASK: np.ones((1, past + T), np.int64),  # (1, past + T)
    }
    if positions:  # learned positions (GPT-2): a row's tokens continue at its own length
        feeds[io_names.POSITION_IDS] = np.arange(past, past + T, dtype=np.int64)[None]  # (1, T)
    return feeds


def extend_feeds(ids: np.ndarray, past: int, positions: bool) -> dict[str, np.ndarray]:
    """`prompt_feeds` for T tokens (T,) whose logits are all wanted: a prompt-lookup verify."""
    feeds = prompt_feeds(ids.tolist(), past, positions)
    feeds[io_names.LOGITS_TO_KEEP] = np.array([len(ids)], np.int64)  # (1,)
    return feeds


def decode_feeds(tokens: np.ndarray, lengths: np.ndarray, positions: bool) -> dict[str, np.ndarray]:
    """In-place graph feeds for one new token per row: tokens (B,) int64 after lengths (B,) filled slots per row."""
    width = int(lengths.max()) + 1
    mask = (np.arange(width)[None, :] <= lengths[:, None]).astype(np.int64)  # (B, S): row r has len_r + 1
    feeds = {io_names.INPUT_IDS: tokens[:, None].astype(np.int64), io_names.ATTENTION_MASK: mask}  # (B, 1), (B, S)
    if positions:
        feeds[io_names.POSITION_IDS] = lengths[:, None].astype(np.int64)  # (B, 1)
    return feeds
