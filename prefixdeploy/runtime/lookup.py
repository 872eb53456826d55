"""Exact prompt-lookup decoding: draft tokens by copying from the sequence, verify them in one forward. No torch.

At batch 1 and greedy, the next tokens of an extraction or data-to-text answer often copy the input. The last n-gram
of the sequence so far (n = 3, 2, 1, longest first) is looked up in the sequence (the prompt and what was generated);
the tokens that followed its most recent earlier occurrence are the draft. One forward over [pending token, draft]
gives the model's greedy choice after each of them; the longest run of the draft that equals those choices is kept,
plus the model's own next token, and the rejected slots are forgotten (`cache.rewind`). Every kept token is the
model's greedy choice given the tokens before it, so the output is plain greedy decoding's, token for token (the
logits come from a forward over several tokens: at fp32 equal up to summation order, see tests/runtime/test_lookup.py;
ONNX Runtime's 4-bit kernel computes one row on another path than two or more, up to 0.76 apart in the logits, so at
int4 a near-tie can flip).

Earlier outputs: a task's answers share their form (an extraction's JSON keys, a data-to-text answer's phrases), which
is in none of the prompts. `earlier` sequences (e.g. the answers to other requests with the same prefix) are a second
source: for each n, the sequence is searched first, then they. From them the draft is what their continuations agree
on, token by token, each token by a strict majority of those that agreed so far: the form they share is drafted, the
names that differ are not (a draft rejected at once still costs a wider forward). Drafts are verified all the same,
so at fp32 what they propose never changes the output, only how many tokens a forward keeps (at int4 it decides which
tokens go through a several-row forward, so it can flip a near-tie).

Drafting stops where it does not pay (`DraftPolicy`): the draft starts short and doubles while fully accepted, halves
when cut, and after drafts rejected outright it waits 1, 2, 4 … 16 plain steps before drafting again.

Shape letters as in `generate.py`: T tokens fed in one forward, V vocab.
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from prefixdeploy.errors import ConfigError

NGRAM_SIZES = (3, 2, 1)  # longest first: a longer match predicts better
MAX_PROMPT_LOOKUP = 64  # the longest draft K allowed: a verify is one forward over 1 + K tokens
FIRST_DRAFT = 2  # tokens in the first draft; grows while drafts are accepted
MAX_WAIT = 16  # most plain steps between drafts after repeated outright rejections


def check_prompt_lookup(k: int, field: str = "prompt_lookup") -> None:
    """K must be 0 (off) to MAX_PROMPT_LOOKUP: the draft grows up to K, and a verify feeds 1 + K tokens at once."""
    if not 0 <= k <= MAX_PROMPT_LOOKUP:
        raise ConfigError(f"{field} must be between 0 (off) and {MAX_PROMPT_LOOKUP}, got {k}", field)


@dataclass
class LookupStats:
    """What prompt lookup did during one generation (or summed over several)."""

    drafted: int = 0  # draft tokens verified
    accepted: int = 0  # of those, equal to the model's greedy choice (and so kept)
    verifies: int = 0  # forwards over a draft
    steps: int = 0  # plain one-token steps

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drafted if self.drafted else 0.0

    def add(self, other: LookupStats) -> None:
        for name in ("drafted", "accepted", "verifies", "steps"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class DraftPolicy:
    """How many tokens to draft next: grows while drafts are accepted, backs off after misses."""

    limit: int  # --prompt-lookup K: the longest draft
    size: int = field(default=FIRST_DRAFT)
    wait: int = 0  # plain steps left before the next draft
    misses: int = 0  # drafts rejected outright in a row

    def __post_init__(self):
        self.size = min(self.size, self.limit)

    def next_size(self, room: int) -> int:
        """The next draft's length (0: do not draft this step), at most `room`."""
        if self.wait:
            self.wait -= 1
            return 0
        return min(self.size, room)

    def record(self, drafted: int, accepted: int) -> None:
        if accepted == drafted:
            self.size, self.misses = min(self.limit, 2 * self.size), 0
        elif accepted == 0:
            self.misses += 1
            self.size, self.wait = max(1, self.size // 2), min(MAX_WAIT, 2 ** (self.misses - 1))
        else:
            self.size, self.misses = max(1, accepted + 1), 0


def find_draft(seq: np.ndarray, k: int, earlier: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Up to k tokens that followed the most recent earlier occurrence of seq's last n-gram (n = 3, 2, 1, longest
    first) in seq itself; else what most of the `earlier` sequences continue that n-gram with (`_agreed`).

    seq: (N,) int64, the sequence so far; earlier: (M_i,) int64 each. Returns (≤ k,) int64; empty if nothing matches.
    """
    if k < 1:
        return seq[:0]
    for n in NGRAM_SIZES:
        if len(seq) <= n:
            continue
        draft = _follow(seq, seq[-n:], k)
        if not len(draft) and earlier:
            draft = _agreed([_follow(source, seq[-n:], k) for source in earlier])
        if len(draft):
            return draft
    return seq[:0]


def _agreed(continuations: list[np.ndarray]) -> np.ndarray:
    """The longest run of tokens on which, position by position, a strict majority of the continuations (≤ k,) that
    agreed so far agree again (a single one is its own majority); empty when they disagree at once."""
    candidates = [c for c in continuations if len(c)]
    n = 0
    while candidates:
        votes = Counter(int(c[n]) for c in candidates if len(c) > n)  # a continuation that ended votes for none
        if not votes:
            break
        token, count = votes.most_common(1)[0]
        if len(candidates) > 1 and 2 * count <= len(candidates):
            break
        candidates, n = [c for c in candidates if len(c) > n and c[n] == token], n + 1
    return candidates[0][:n] if n else np.zeros(0, np.int64)


def _follow(source: np.ndarray, gram: np.ndarray, k: int) -> np.ndarray:
    """Up to k tokens after the last occurrence of `gram` (n,) in `source` (M,) that has a successor; else empty."""
    n = len(gram)
    if len(source) <= n:
        return source[:0]
    windows = np.lib.stride_tricks.sliding_window_view(source[:-1], n)  # (M − n, n): each has a successor
    starts = np.flatnonzero((windows == gram).all(axis=1))
    if not len(starts):
        return source[:0]
    begin = starts[-1] + n
    return source[begin : begin + k]


def before_eos(draft: np.ndarray, eos: set[int]) -> np.ndarray:
    """The draft up to its first EOS token (excluded): a forward over an EOS is never needed (generation ends there,
    and the step that would choose it chooses it all the same), so drafting it only makes the verify wider."""
    stops = [i for i, token in enumerate(draft.tolist()) if token in eos]
    return draft[: stops[0]] if stops else draft


class EarlierOutputs:
    """The last `size` outputs per key (a prefix's name): draft sources for later requests of the same task. At most
    `max_keys` keys are kept, the least recently added to dropped first (prefixes come and go in a server)."""

    def __init__(self, size: int = 16, max_keys: int = 64):
        self.size, self.max_keys = size, max_keys
        self._outputs: OrderedDict[object, deque[np.ndarray]] = OrderedDict()

    def add(self, key, tokens: Sequence[int]) -> None:
        if not self.size or len(tokens) < 2:
            return
        self._outputs.setdefault(key, deque(maxlen=self.size)).appendleft(np.asarray(tokens, np.int64))
        self._outputs.move_to_end(key)
        while len(self._outputs) > self.max_keys:
            self._outputs.popitem(last=False)

    def get(self, key) -> list[np.ndarray]:
        """Most recent first."""
        return list(self._outputs.get(key, ()))


class Drafter:
    """One row's drafting: a `DraftPolicy` for the sizes, `find_draft` for the tokens, cut before an EOS."""

    def __init__(self, limit: int):
        self.policy = DraftPolicy(limit)

    def propose(self, seq: np.ndarray, room: int, eos: set[int], earlier: Sequence[np.ndarray] = ()) -> np.ndarray:
        """A draft (≤ room,) int64 continuing seq (N,) int64; empty when the policy waits or nothing matches."""
        size = self.policy.next_size(room) if room > 0 else 0
        return before_eos(find_draft(seq, size, earlier), eos) if size else seq[:0]

    def record(self, drafted: int, accepted: int) -> None:
        self.policy.record(drafted, accepted)


def verify_draft(
    cache, token: int, draft: np.ndarray, choose: Callable[[np.ndarray, list[int]], int]
) -> tuple[list[int], np.ndarray]:
    """Feed [token, *draft] (1 + k,) in one forward of a batch-1 `cache` (`extend`, `rewind`); keep the longest run
    of the draft that equals the choice at each position, and the choice after it.

    choose(logits (V,), the draft tokens accepted before it) -> the token chosen there: the one token-choice seam
    (`sampling.choose_token`), so each row's processors decide, not a raw argmax. Returns (the tokens kept: the
    accepted draft, then the next choice; their logits (len, V)). The rejected positions are rewound."""
    logits = cache.extend(np.concatenate([[token], draft]).astype(np.int64))  # (1 + k, V): after token, each draft
    kept: list[int] = []
    for i in range(len(draft) + 1):
        kept.append(choose(logits[i], kept))
        if i == len(draft) or kept[-1] != int(draft[i]):
            break
    cache.rewind(len(draft) - (len(kept) - 1))  # rejected slots: overwritten by the next forward
    return kept, logits[: len(kept)]


def lookup_decode(
    cache,
    logits: np.ndarray,
    prompt: list[int],
    max_new: int,
    eos: set[int],
    choose: Callable[[np.ndarray, list[int]], int],
    drafter: Drafter,
    stats: LookupStats,
    earlier: Sequence[np.ndarray] = (),
) -> Iterator[tuple[int, np.ndarray]]:
    """One row's tokens after its prefill, with prompt lookup: yields (token, the (V,) logits it came from).

    cache: a batch-1 cache whose last fed token is the prompt's (`step`, `extend`, `rewind`); logits: (1, V) after
    it; choose(logits (V,), the tokens generated so far) -> the next token (greedy, through the token-choice seam);
    earlier: more draft sources (`find_draft`). Stops after max_new tokens or at a token in `eos` (yielded).
    """
    seq = np.empty(len(prompt) + max_new, np.int64)  # (N_max,) the prompt, then every token yielded
    seq[: len(prompt)] = prompt
    output: list[int] = []  # the tokens yielded so far
    pending = [(choose(logits[0], output), logits[0])]  # (token, its (V,) logits) not yet yielded
    while True:
        for token, row in pending:
            seq[len(prompt) + len(output)] = token
            output.append(token)
            yield token, row
            if token in eos or len(output) == max_new:
                return
        room = max_new - len(output) - 1  # draft tokens that fit: every one kept still leaves the model's own
        draft = drafter.propose(seq[: len(prompt) + len(output)], room, eos, earlier)
        if not len(draft):
            row = cache.step(np.array([token], np.int64))[0]  # (V,)
            stats.steps += 1
            pending = [(choose(row, output), row)]
            continue
        kept, rows = verify_draft(cache, token, draft, lambda z, accepted: choose(z, output + accepted))
        drafter.record(len(draft), len(kept) - 1)
        stats.add(LookupStats(drafted=len(draft), accepted=len(kept) - 1, verifies=1))
        pending = list(zip(kept, rows))
