"""The generation loop, top to bottom: pick each row's prefix, seed the cache, step, sample. Must not import torch.

Shape letters: B rows, T tokens fed this step, P_max longest prefix among the rows, S cache length, L layers,
H_kv kv heads, D head dim, V vocab. Rows are left-padded: padding slots carry attention_mask 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime import manifest as names
from prefixdeploy.runtime.backends import Backend
from prefixdeploy.runtime.lookup import LookupStats, lookup_greedy
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.sampling import sample_next


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1.0: off
    seed: int | None = None  # sampling seed; None: fresh entropy
    ignore_eos: bool = False  # generate exactly max_new_tokens
    prompt_lookup: int = 0  # K > 0: greedy rows alone in their batch draft up to K tokens from the sequence (lookup.py)

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise PrefixDeployError(f"--max-new-tokens must be at least 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise PrefixDeployError(f"--temperature must be ≥ 0, got {self.temperature}")
        if self.top_k < 0:
            raise PrefixDeployError(f"--top-k must be ≥ 0, got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise PrefixDeployError(f"--top-p must be in (0, 1], got {self.top_p}")
        if self.prompt_lookup < 0:
            raise PrefixDeployError(f"--prompt-lookup must be ≥ 0 (0: off), got {self.prompt_lookup}")
        if self.prompt_lookup and self.temperature > 0:
            raise PrefixDeployError(
                "--prompt-lookup verifies drafts against greedy choices; use it with --temperature 0 (the default)"
            )


@dataclass(frozen=True)
class Step:
    tokens: np.ndarray  # (B,) int64, the token each row picked (pad for rows already finished)
    logits: np.ndarray  # (B, V) float32, the scores it was picked from
    finished: np.ndarray  # (B,) bool, rows that had finished before this step


def generate_steps(
    backend: Backend,
    manifest: Manifest,
    prompts: list[list[int]],
    prefixes: list[Prefix | None],
    config: GenerationConfig,
    inplace: bool = False,
    lookup_stats: LookupStats | None = None,
) -> Iterator[Step]:
    """Yield one Step per new token for a batch of prompts, row r continuing prefix `prefixes[r]`.

    inplace: the graph is the ONNX Runtime variant (fused attention over preallocated KV buffers); otherwise the
    portable graph, whose cache grows by concatenation. config.prompt_lookup applies to a batch of one row (larger
    batches decode one token per step); lookup_stats, if given, receives what it did.
    """
    lengths = np.array([p.num_virtual_tokens if p else 0 for p in prefixes])  # (B,) each row's P
    _check_fits(manifest, prompts, lengths, config.max_new_tokens)
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, prompts, prefixes, config.max_new_tokens)
    logits = cache.prefill()  # (B, V)
    if config.prompt_lookup and len(prompts) == 1 and cache.extends:
        eos = set() if config.ignore_eos else set(manifest.eos_token_ids)
        stats = lookup_stats if lookup_stats is not None else LookupStats()
        for token, row in lookup_greedy(
            cache, logits, prompts[0], config.max_new_tokens, eos, config.prompt_lookup, stats
        ):
            yield Step(np.array([token]), row[None], np.zeros(1, bool))  # (1,), (1, V), (1,)
        return

    rng = np.random.default_rng(config.seed)
    eos = np.array(manifest.eos_token_ids, np.int64)
    finished = np.zeros(len(prompts), bool)  # (B,)
    for n in range(config.max_new_tokens):
        tokens = sample_next(logits, rng, config.temperature, config.top_k, config.top_p)  # (B,)
        tokens = np.where(finished, manifest.pad_token_id, tokens)
        yield Step(tokens, logits, finished.copy())
        if not config.ignore_eos:
            finished |= np.isin(tokens, eos)
            if finished.all():
                return
        if n + 1 < config.max_new_tokens:
            logits = cache.step(tokens)  # (B, V)


@dataclass(frozen=True)
class Scores:
    """Teacher forcing over ids: per position t ≥ 1, what the model made of ids[t] given ids[:t] (and the prefix)."""

    logprobs: np.ndarray  # (len(ids) − 1,) float64: log p(ids[t] | ids[:t])
    argmax: np.ndarray  # (len(ids) − 1,) int64: the model's greedy choice at t, given ids[:t]


def score_tokens(
    backend: Backend, manifest: Manifest, ids: list[int], prefix: Prefix | None, inplace: bool = False
) -> Scores:
    """Teacher-forced log-probabilities and greedy choices for ids[1:] given what precedes them (and the prefix).

    Feeds one token per step through the same cache path as generation, so every graph variant can be scored.
    """
    if len(ids) < 2:
        raise PrefixDeployError(f"scoring needs at least 2 tokens (the first is only context); got {len(ids)}")
    _check_fits(manifest, [ids[:1]], np.array([prefix.num_virtual_tokens if prefix else 0]), len(ids) - 1)
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, [ids[:1]], [prefix], len(ids) - 1)
    logits = cache.prefill()  # (1, V)
    scores, choices = [], []
    for t in range(1, len(ids)):
        z = logits[0].astype(np.float64)  # (V,)
        scores.append(z[ids[t]] - z.max() - np.log(np.exp(z - z.max()).sum()))
        choices.append(int(z.argmax()))
        if t + 1 < len(ids):
            logits = cache.step(np.array([ids[t]], np.int64))
    return Scores(np.array(scores), np.array(choices, np.int64))


def fill_cache(
    backend: Backend, manifest: Manifest, ids: list[int], prefix: Prefix | None, inplace: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Run ids on top of `prefix` (batch 1) and return the cache they leave: keys and values, each (L, H_kv, P+T, D).

    The keys carry the position encoding the graph gave them (token t at position P + t), so the cache is a prefix
    whose next real token sits at P + T: exactly where it would sit with ids placed before it in the prompt.
    """
    _check_fits(manifest, [ids], np.array([prefix.num_virtual_tokens if prefix else 0]), 1)
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, [ids], [prefix], 0)
    cache.prefill()
    return cache.row_kv()


class ConcatCache:
    """The portable graph: rows left-padded, the cache returned as `present` and fed back as `past` each step."""

    def __init__(self, backend: Backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.backend, self.manifest = backend, manifest
        B = len(prompts)
        # Left-pad the prompts; each real token t of row r sits at position P_r + t (PEFT's convention).
        T = max(len(p) for p in prompts)
        ids = np.full((B, T), manifest.pad_token_id, np.int64)  # (B, T)
        prompt_mask = np.zeros((B, T), np.int64)  # (B, T)
        for r, p in enumerate(prompts):
            ids[r, T - len(p) :], prompt_mask[r, T - len(p) :] = p, 1
        pos = np.maximum(np.cumsum(prompt_mask, axis=1) - 1, 0)  # (B, T)
        self.feeds = {names.INPUT_IDS: ids}
        if manifest.mode == "baked":  # the graph prepends its own prefix and offsets positions
            past, mask = _empty_cache(manifest, B), prompt_mask  # S = 0; (B, T)
            if manifest.is_bank:
                bank = [manifest.prefix(p.name).bank_index for p in prefixes]
                self.feeds[names.PREFIX_IDS] = np.array(bank, np.int64)  # (B,)
        else:
            past, prefix_mask = seed_with_prefix(manifest, prefixes)  # per layer (B, H_kv, P_max, D); (B, P_max)
            mask = np.concatenate([prefix_mask, prompt_mask], axis=1)  # (B, P_max + T)
            lengths = np.array([p.num_virtual_tokens if p else 0 for p in prefixes])  # (B,)
            pos = pos + lengths[:, None]  # (B, T)
        self.feeds.update({names.ATTENTION_MASK: mask, names.POSITION_IDS: pos, **past})

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
                for name in (names.PAST_KEY.format(i), names.PAST_VALUE.format(i)):
                    f[name] = f[name][:, :, :-n]  # (B, H_kv, S − n, D)
            f[names.ATTENTION_MASK] = f[names.ATTENTION_MASK][:, :-n]  # (B, S − n)
            f[names.POSITION_IDS] = f[names.POSITION_IDS][:, :-n]  # (B, T − n): its last is the last kept position

    def _feed(self, ids: np.ndarray) -> np.ndarray:
        f, T = self.feeds, ids.shape[1]
        f[names.INPUT_IDS] = ids  # (B, T)
        f[names.POSITION_IDS] = f[names.POSITION_IDS][:, -1:] + 1 + np.arange(T)  # (B, T)
        f[names.ATTENTION_MASK] = np.pad(f[names.ATTENTION_MASK], ((0, 0), (0, T)), constant_values=1)  # (B, S+T)
        return self._run()

    def _run(self) -> np.ndarray:
        out = self.backend.run(self.feeds)
        for i in range(self.manifest.model.num_layers):  # present (B, H_kv, S + T, D) becomes the next past
            self.feeds[names.PAST_KEY.format(i)] = out[names.PRESENT_KEY.format(i)]
            self.feeds[names.PAST_VALUE.format(i)] = out[names.PRESENT_VALUE.format(i)]
        return out[names.LOGITS]  # (B, T, V)

    def row_kv(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch 1: the cache so far, keys and values each (L, H_kv, S, D)."""
        L = range(self.manifest.model.num_layers)
        key = np.stack([self.feeds[names.PAST_KEY.format(i)][0] for i in L])  # (L, H_kv, S, D)
        value = np.stack([self.feeds[names.PAST_VALUE.format(i)][0] for i in L])  # (L, H_kv, S, D)
        return key, value


class InPlaceCache:
    """The ONNX Runtime graph: one preallocated buffer per layer, written in place by the fused attention.

    Row r's cache is [prefix (P_r) | prompt | new tokens] from slot 0; its mask row has ones over exactly those
    slots, which is how the fused attention knows each row's length (and so its positions: P_r + t). Prefill runs
    row by row (the kernel takes a past context only at batch 1), each on its row of the shared buffers; decoding
    runs the whole batch at once.
    """

    def __init__(self, backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.backend, self.prompts = backend, prompts
        m = manifest.model
        self.lengths = np.array([p.num_virtual_tokens if p else 0 for p in prefixes])  # (B,) filled slots per row
        s_max = int(max(self.lengths + [len(p) for p in prompts])) + max_new
        B, L = len(prompts), m.num_layers
        self.kv = np.zeros((L, 2, B, m.num_key_value_heads, s_max, m.head_dim), np.float32)  # (L, 2, B, H_kv, S, D)
        for r, p in enumerate(prefixes):
            if p is not None:
                self.kv[:, 0, r, :, : p.num_virtual_tokens] = p.key  # prefix keys carry no position encoding
                self.kv[:, 1, r, :, : p.num_virtual_tokens] = p.value
        self.positions = names.POSITION_IDS in backend.input_names()  # learned positions (GPT-2) need them
        self.extends = names.LOGITS_TO_KEEP in backend.input_names()  # graphs exported before it: last logits only
        self.batch = self._bind(slice(None))

    def _bind(self, rows: slice):
        binding = self.backend.binding()
        for i in range(self.kv.shape[0]):
            binding.share(names.PAST_KEY.format(i), names.PRESENT_KEY.format(i), self.kv[i, 0, rows])
            binding.share(names.PAST_VALUE.format(i), names.PRESENT_VALUE.format(i), self.kv[i, 1, rows])
        return binding

    def prefill(self) -> np.ndarray:
        rows = []
        for r, prompt in enumerate(self.prompts):
            binding = self.batch if len(self.prompts) == 1 else self._bind(slice(r, r + 1))
            P, T = int(self.lengths[r]), len(prompt)
            feeds = {
                names.INPUT_IDS: np.array([prompt], np.int64),  # (1, T)
                names.ATTENTION_MASK: np.ones((1, P + T), np.int64),  # (1, P + T)
            }
            if self.positions:
                feeds[names.POSITION_IDS] = np.arange(P, P + T, dtype=np.int64)[None]  # (1, T)
            rows.append(binding.run(feeds)[:, -1])  # (1, V)
            self.lengths[r] += T
        return np.concatenate(rows)  # (B, V)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        width = int(self.lengths.max()) + 1
        mask = (np.arange(width)[None, :] <= self.lengths[:, None]).astype(np.int64)  # (B, S): row r has len_r + 1
        feeds = {names.INPUT_IDS: tokens[:, None], names.ATTENTION_MASK: mask}  # (B, 1), (B, S)
        if self.positions:
            feeds[names.POSITION_IDS] = self.lengths[:, None].astype(np.int64)  # (B, 1)
        logits = self.batch.run(feeds)[:, -1]  # (B, V)
        self.lengths += 1
        return logits

    def extend(self, tokens: np.ndarray) -> np.ndarray:
        """Batch 1: feed T tokens (T,) in one forward (the fused attention takes T new tokens over a past at batch
        1); the logits after each, (T, V)."""
        S, T = int(self.lengths[0]), len(tokens)
        feeds = {
            names.INPUT_IDS: tokens[None].astype(np.int64),  # (1, T)
            names.ATTENTION_MASK: np.ones((1, S + T), np.int64),  # (1, S + T)
            names.LOGITS_TO_KEEP: np.array([T], np.int64),  # (1,)
        }
        if self.positions:
            feeds[names.POSITION_IDS] = np.arange(S, S + T, dtype=np.int64)[None]  # (1, T)
        logits = self.batch.run(feeds)[0]  # (T, V)
        self.lengths += T
        return logits

    def rewind(self, n: int) -> None:
        """Batch 1: forget the last n tokens fed; their slots are overwritten by the next forward."""
        self.lengths -= n

    def row_kv(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch 1: the filled slots of the buffers, keys and values each (L, H_kv, S, D)."""
        S = int(self.lengths[0])
        return self.kv[:, 0, 0, :, :S].copy(), self.kv[:, 1, 0, :, :S].copy()  # (L, H_kv, S, D) each


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
        feeds[names.PAST_KEY.format(i)], feeds[names.PAST_VALUE.format(i)] = key[i], value[i]
    return feeds, mask


def _empty_cache(manifest: Manifest, B: int) -> dict[str, np.ndarray]:
    m = manifest.model
    empty = np.zeros((B, m.num_key_value_heads, 0, m.head_dim), np.float32)  # (B, H_kv, 0, D)
    return {n.format(i): empty for i in range(m.num_layers) for n in (names.PAST_KEY, names.PAST_VALUE)}


def _check_fits(manifest: Manifest, prompts: list[list[int]], lengths: np.ndarray, max_new: int) -> None:
    limit = manifest.max_context
    for prompt, p in zip(prompts, lengths):
        if not prompt:
            raise PrefixDeployError("the prompt is empty (0 tokens); give some text")
        need = int(p) + len(prompt) + max_new
        if need > limit:
            raise ContextLengthError(
                f"prefix {int(p)} + prompt {len(prompt)} + max new tokens {max_new} = {need} tokens exceeds the "
                f"model's context of {limit}; shorten the prompt or lower --max-new-tokens"
            )
