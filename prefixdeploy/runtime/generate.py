"""The generation loop, top to bottom: pick each row's prefix, seed the cache, step, sample. Must not import torch.

Shape letters: B rows, T tokens fed this step, P_max longest prefix among the rows, S cache length, L layers,
H_kv kv heads, D head dim, V vocab. Rows are left-padded: padding slots carry attention_mask 0.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import KW_ONLY, dataclass

import numpy as np

from prefixdeploy.errors import ContextLengthError, PrefixDeployError
from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.backends import Backend
from prefixdeploy.runtime.lookup import LookupStats, check_prompt_lookup, lookup_greedy
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.memory import zeros_in_small_pages
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.sampling import log_softmax, sample_next


@dataclass(frozen=True)
class GenerationConfig:
    max_new_tokens: int = 64
    _: KW_ONLY  # the options below are passed by name
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
        check_prompt_lookup(self.prompt_lookup)
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
    lookup_earlier: Sequence[np.ndarray] = (),
) -> Iterator[Step]:
    """Yield one Step per new token for a batch of prompts, row r continuing prefix `prefixes[r]`.

    inplace: the graph is the ONNX Runtime variant (fused attention over preallocated KV buffers); otherwise the
    portable graph, whose cache grows by concatenation. config.prompt_lookup applies to a batch of one row (larger
    batches decode one token per step); lookup_stats, if given, receives what it did; lookup_earlier: more draft
    sources than the sequence itself (e.g. earlier answers of the same task, `lookup.EarlierOutputs`).
    """
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, prompts, prefixes, config.max_new_tokens)
    logits = cache.prefill()  # (B, V)
    if config.prompt_lookup and len(prompts) == 1 and cache.extends:
        eos = set() if config.ignore_eos else set(manifest.eos_token_ids)
        stats = lookup_stats if lookup_stats is not None else LookupStats()
        for token, row in lookup_greedy(
            cache, logits, prompts[0], config.max_new_tokens, eos, config.prompt_lookup, stats, lookup_earlier
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
    cache = (InPlaceCache if inplace else ConcatCache)(backend, manifest, [ids[:1]], [prefix], len(ids) - 1)
    logits = cache.prefill()  # (1, V)
    scores, choices = [], []
    for t in range(1, len(ids)):
        scores.append(log_softmax(logits[0])[ids[t]])  # (V,) -> log p(ids[t])
        choices.append(int(logits[0].argmax()))
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
    """The portable graph: rows left-padded, the cache returned as `present` and fed back as `past` each step.

    Like `InPlaceCache`, it refuses rows whose prefix + prompt + `max_new` tokens exceed the model's context.
    """

    def __init__(self, backend: Backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.backend, self.manifest = backend, manifest
        lengths = prefix_lengths(prefixes)  # (B,) each row's P
        _check_fits(manifest, prompts, lengths, max_new)
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
    """The ONNX Runtime graph: one preallocated buffer per layer, written in place by the fused attention.

    Row r's cache is [prefix (P_r) | prompt | new tokens] from slot 0; its mask row has ones over exactly those
    slots, which is how the fused attention knows each row's length (and so its positions: P_r + t). Prefill runs
    row by row (the kernel takes a past context only at batch 1), each on its row of the shared buffers; decoding
    runs the whole batch at once.
    """

    def __init__(self, backend, manifest: Manifest, prompts, prefixes, max_new: int):
        self.backend, self.prompts = backend, prompts
        m = manifest.model
        self.lengths = prefix_lengths(prefixes)  # (B,) filled slots per row: the prefix, then what prefill adds
        _check_fits(manifest, prompts, self.lengths, max_new)
        s_max = int(max(self.lengths + [len(p) for p in prompts])) + max_new
        B, L = len(prompts), m.num_layers
        shape = (L, 2, B, m.num_key_value_heads, s_max, m.head_dim)
        self.kv = zeros_in_small_pages(shape, np.float32)  # (L, 2, B, H_kv, S, D); see runtime.memory
        for r, p in enumerate(prefixes):
            if p is not None:
                self.kv[:, 0, r, :, : p.num_virtual_tokens] = p.key  # prefix keys carry no position encoding
                self.kv[:, 1, r, :, : p.num_virtual_tokens] = p.value
        self.positions = io_names.POSITION_IDS in backend.input_names()  # learned positions (GPT-2) need them
        self.extends = io_names.LOGITS_TO_KEEP in backend.input_names()  # graphs exported before it: last logits only
        self.batch = bind_kv(backend, self.kv)

    def prefill(self) -> np.ndarray:
        rows = []
        for r, prompt in enumerate(self.prompts):
            binding = self.batch if len(self.prompts) == 1 else bind_kv(self.backend, self.kv[:, :, r : r + 1])
            feeds = prompt_feeds(prompt, int(self.lengths[r]), self.positions)
            rows.append(binding.run(feeds)[:, -1])  # (1, V)
            self.lengths[r] += len(prompt)
        return np.concatenate(rows)  # (B, V)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        logits = self.batch.run(decode_feeds(tokens, self.lengths, self.positions))[:, -1]  # (B, V)
        self.lengths += 1
        return logits

    def extend(self, tokens: np.ndarray) -> np.ndarray:
        """Batch 1: feed T tokens (T,) in one forward (the fused attention takes T new tokens over a past at batch
        1); the logits after each, (T, V)."""
        logits = self.batch.run(extend_feeds(tokens, int(self.lengths[0]), self.positions))[0]  # (T, V)
        self.lengths += len(tokens)
        return logits

    def rewind(self, n: int) -> None:
        """Batch 1: forget the last n tokens fed; their slots are overwritten by the next forward."""
        self.lengths -= n

    def row_kv(self) -> tuple[np.ndarray, np.ndarray]:
        """Batch 1: the filled slots of the buffers, keys and values each (L, H_kv, S, D)."""
        S = int(self.lengths[0])
        return self.kv[:, 0, 0, :, :S].copy(), self.kv[:, 1, 0, :, :S].copy()  # (L, H_kv, S, D) each


def bind_kv(backend, kv: np.ndarray):
    """An IO binding whose past and present of every layer are the views of `kv` (L, 2, B, H_kv, S, D) float32.

    Each kv[i, 0] / kv[i, 1] must be C-contiguous (slice only the B axis): the fused attention writes through it.
    """
    binding = backend.binding()
    for i in range(kv.shape[0]):
        binding.share(io_names.PAST_KEY.format(i), io_names.PRESENT_KEY.format(i), kv[i, 0])  # (B, H_kv, S, D)
        binding.share(io_names.PAST_VALUE.format(i), io_names.PRESENT_VALUE.format(i), kv[i, 1])
    return binding


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


def _check_fits(manifest: Manifest, prompts: list[list[int]], lengths: np.ndarray, max_new: int) -> None:
    for prompt, p in zip(prompts, lengths):
        if not prompt:
            raise PrefixDeployError("the prompt is empty (0 tokens); give some text")
        check_context(manifest.max_context, int(p), len(prompt), max_new)


def check_context(
    limit: int, prefix: int, prompt: int, max_new: int, fix: str = "shorten the prompt or lower --max-new-tokens"
) -> None:
    """Raise ContextLengthError if a row's prefix + prompt + new tokens exceed the model's context of `limit`."""
    need = prefix + prompt + max_new
    if need > limit:
        raise ContextLengthError(
            f"prefix {prefix} + prompt {prompt} + max new tokens {max_new} = {need} tokens exceeds the "
            f"model's context of {limit}; {fix}"
        )
