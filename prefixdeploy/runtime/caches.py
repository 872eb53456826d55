"""The caches of one generation call over a fixed batch: the portable graph's (grown by concatenation) and the ONNX
Runtime graph's (in-place KV slots, `kv.KVSlots`). Both offer `prefill`, `step`, and at batch 1 `extend`, `rewind`
and `row_kv`. Must not import torch.

Shape letters: B rows, T tokens fed this step, P_max longest prefix among the rows, S cache length, L layers,
H_kv kv heads, D head dim, V vocab. Rows of the portable graph are left-padded: padding slots carry attention_mask 0.
"""

from __future__ import annotations

import numpy as np

from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.backends import Backend
from prefixdeploy.runtime.kv import KVSlots
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import Prefix


class ConcatCache:
    """The portable graph: rows left-padded, the cache returned as `present` and fed back as `past` each step.

    Like `InPlaceCache`, it refuses rows whose prefix + prompt + `max_new` tokens exceed the model's context.
    """

    def __init__(self, backend: Backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.backend, self.manifest = backend, manifest
        lengths = prefix_lengths(prefixes)  # (B,) each row's P
        check_rows_fit(manifest, prompts, lengths, max_new)
        B = len(prompts)
        # Left-pad the prompts; each real token t of row r sits at position P_r + t (PEFT's convention).
        T = max(len(p) for p in prompts)
        ids = np.full((B, T), manifest.pad_token_id, np.int64)  # (B, T)
        prompt_mask = np.zeros((B, T), np.int64)  # (B, T)
        for r, p in enumerate(prompts):
            ids[r, T - len(p) :], prompt_mask[r, T - len(p) :] = p, 1
        pos = np.maximum(np.cumsum(prompt_mask, axis=1) - 1, 0)  # (B, T)
        self.feeds = {io_names.INPUT_IDS: ids}
        if manifest.mode == "baked":  # the graph prepends its own prefix and offsets positions
            past, mask = _empty_cache(manifest, B), prompt_mask  # S = 0; (B, T)
            if manifest.is_bank:
                self.feeds[io_names.PREFIX_IDS] = _bank_indices(prefixes)  # (B,)
        else:
            past, prefix_mask = seed_with_prefix(manifest, prefixes)  # per layer (B, H_kv, P_max, D); (B, P_max)
            mask = np.concatenate([prefix_mask, prompt_mask], axis=1)  # (B, P_max + T)
            pos = pos + lengths[:, None]  # (B, T)
        self.feeds.update({io_names.ATTENTION_MASK: mask, io_names.POSITION_IDS: pos, **past})

    extends = True  # the portable graph returns logits at every position fed: `extend` works

    def prefill(self) -> np.ndarray:
        return self._run()[:, -1]  # (B, V)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        return self._feed(tokens[:, None])[:, -1]  # (B, V)

    def extend(self, tokens: np.ndarray) -> np.ndarray:
        """Batch 1: feed T tokens (T,) in one forward; the logits after each, (T, V)."""
        return self._feed(tokens[None])[0]  # (T, V)

    def rewind(self, n: int) -> None:
        """Batch 1: forget the last n tokens fed (n < the tokens of the last forward): cut them from the cache."""
        if n:
            f = self.feeds
            for i in range(self.manifest.model.num_layers):
                for name in (io_names.PAST_KEY.format(i), io_names.PAST_VALUE.format(i)):
                    f[name] = f[name][:, :, :-n]  # (B, H_kv, S − n, D)
            f[io_names.ATTENTION_MASK] = f[io_names.ATTENTION_MASK][:, :-n]  # (B, S − n)
            f[io_names.POSITION_IDS] = f[io_names.POSITION_IDS][:, :-n]  # (B, T − n): ends at the last kept

    def _feed(self, ids: np.ndarray) -> np.ndarray:
        f, T = self.feeds, ids.shape[1]
        f[io_names.INPUT_IDS] = ids  # (B, T)
        f[io_names.POSITION_IDS] = f[io_names.POSITION_IDS][:, -1:] + 1 + np.arange(T)  # (B, T)
        f[io_names.ATTENTION_MASK] = np.pad(f[io_names.ATTENTION_MASK], ((0, 0), (0, T)), constant_values=1)  # (B, S+T)
        return self._run()

    def _run(self) -> np.ndarray:
        out = self.backend.run(self.feeds)
        for i in range(self.manifest.model.num_layers):  # present (B, H_kv, S + T, D) becomes the next past
            self.feeds[io_names.PAST_KEY.format(i)] = out[io_names.PRESENT_KEY.format(i)]
            self.feeds[io_names.PAST_VALUE.format(i)] = out[io_names.PRESENT_VALUE.format(i)]
        return out[io_names.LOGITS]  # (B, T, V)

    def row_kv(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch 1: the cache so far, keys and values each (L, H_kv, S, D)."""
        L = range(self.manifest.model.num_layers)
        key = np.stack([self.feeds[io_names.PAST_KEY.format(i)][0] for i in L])  # (L, H_kv, S, D)
        value = np.stack([self.feeds[io_names.PAST_VALUE.format(i)][0] for i in L])  # (L, H_kv, S, D)
        return key, value


class InPlaceCache:
    """The ONNX Runtime graph: one KV slot per row (`kv.KVSlots`), written in place by the fused attention.

    Row r's cache is [prefix (P_r) | prompt | new tokens] from position 0 of slot r. Prefill runs row by row (the
    kernel takes a past context only at batch 1); decoding runs the whole batch at once.
    """

    def __init__(self, backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.prompts = prompts
        lengths = prefix_lengths(prefixes)  # (B,) each row's P
        check_rows_fit(manifest, prompts, lengths, max_new)
        s_max = int(max(lengths + [len(p) for p in prompts])) + max_new
        self.slots = KVSlots(backend, manifest, len(prompts), s_max)
        for r, p in enumerate(prefixes):
            self.slots.seed(r, p)
        self.extends = self.slots.extends  # graphs exported before logits_to_keep: last logits only

    def prefill(self) -> np.ndarray:
        return np.stack([self.slots.prefill(r, prompt) for r, prompt in enumerate(self.prompts)])  # (B, V)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        return self.slots.decode(tokens)  # (B, V)

    def extend(self, tokens: np.ndarray) -> np.ndarray:
        """Batch 1: feed T tokens (T,) in one forward; the logits after each, (T, V)."""
        return self.slots.extend(0, tokens)

    def rewind(self, n: int) -> None:
        """Batch 1: forget the last n tokens fed; their slots are overwritten by the next forward."""
        self.slots.rewind(0, n)

    def row_kv(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch 1: the filled positions, keys and values each (L, H_kv, S, D)."""
        return self.slots.row_kv(0)


def seed_with_prefix(manifest: Manifest, prefixes: list[Prefix | None]) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The initial cache of a switchable graph: each row's prefix, left-padded to the longest (rows may differ).

    Returns past feeds, each (B, H_kv, P_max, D) float32, and the prefix mask (B, P_max) int64.
    """
    B, m = len(prefixes), manifest.model
    p_max = max((p.num_virtual_tokens for p in prefixes if p), default=0)
    key = np.zeros((m.num_layers, B, m.num_key_value_heads, p_max, m.head_dim), np.float32)  # (L, B, H_kv, P_max, D)
    value = np.zeros_like(key)
    mask = np.zeros((B, p_max), np.int64)  # (B, P_max)
    for r, p in enumerate(prefixes):
        if p is not None:
            start = p_max - p.num_virtual_tokens
            key[:, r, :, start:], value[:, r, :, start:], mask[r, start:] = p.key, p.value, 1
    feeds = {}
    for i in range(m.num_layers):
        feeds[io_names.PAST_KEY.format(i)], feeds[io_names.PAST_VALUE.format(i)] = key[i], value[i]
    return feeds, mask


def prefix_lengths(prefixes: list[Prefix | None]) -> np.ndarray:
    """(B,) int64: each row's prefix length P (0 for a row without a prefix)."""
    return np.array([p.num_virtual_tokens if p else 0 for p in prefixes], np.int64)


def _bank_indices(prefixes: list[Prefix | None]) -> np.ndarray:
    """(B,) int64 `prefix_ids` of a baked bank: each row's Prefix carries its index (set by `load_bundle`)."""
    if any(p is None or p.bank_index is None for p in prefixes):
        raise PrefixDeployError("every row of a baked bank needs one of the bundle's prefixes (see Bundle.resolve)")
    return np.array([p.bank_index for p in prefixes], np.int64)


def _empty_cache(manifest: Manifest, B: int) -> dict[str, np.ndarray]:
    m = manifest.model
    empty = np.zeros((B, m.num_key_value_heads, 0, m.head_dim), np.float32)  # (B, H_kv, 0, D)
    return {n.format(i): empty for i in range(m.num_layers) for n in (io_names.PAST_KEY, io_names.PAST_VALUE)}


def check_rows_fit(manifest: Manifest, prompts: list[list[int]], lengths: np.ndarray, max_new: int) -> None:
    for prompt, p in zip(prompts, lengths):
        if not prompt:
            raise PrefixDeployError("the prompt is empty (0 tokens); give some text")
        check_context(manifest.max_context, int(p), len(prompt), max_new)


def check_context(
    limit: int,
    prefix: int,
    prompt: int,
    max_new: int,
    fix: str = "shorten the prompt or lower max_new_tokens",
    fields: tuple[str, ...] = ("max_new_tokens",),
) -> None:
    """Raise ContextLengthError if a row's prefix + prompt + new tokens exceed the model's context of `limit`.

    fix: what to do, naming the config `fields` it mentions (the CLI spells them as its options)."""
    need = prefix + prompt + max_new
    if need > limit:
        raise ContextLengthError(
            f"prefix {prefix} + prompt {prompt} + max new tokens {max_new} = {need} tokens exceeds the "
            f"model's context of {limit}; {fix}",
            fields=fields,
        )
