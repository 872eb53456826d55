"""The prompt cache: what the engine's KV slots hold, so that a new request can start from it.

A row that finishes leaves its sequence (prefix, prompt and answer but its last token) in a slot. The scheduler keeps
it there, or copies it into a free slot when another row must move into its own (slots stay contiguous), and records
it here: whose prefix, which tokens. A request admitted later starts from the slot whose tokens share the longest
start with its prompt, under the same prefix: a free slot kept here, or a row still decoding (its filled positions do
not change either, so a burst of prompts with the same start shares it as soon as the first is in). It is copied
into the new row's slot, which prefills only the rest (llama.cpp's `cache_prompt`, vLLM's automatic prefix caching,
per slot). The last prompt token is always fed again: its logits choose the first token. A request's `cache_salt`
(vLLM's) is part of the match: a slot is shared only among requests with the same salt, or among those without one,
so a tenant's prompts cannot be probed through the cache by anyone who lacks its salt.

An admission takes the first free slot: what that slot kept is first set aside into an empty free slot, or over
the least recently used entry if that one is older (`aside`), so that two conversations taking turns both stay.

Plain data, engine thread only, no model: the scheduler says which slots it writes (`drop`) and keeps (`keep`).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from prefixdeploy.runtime.prefix import Prefix

Running = tuple[int, Prefix | None, str | None, list[int]]  # a decoding row: slot, prefix, salt, tokens it has fed


@dataclass
class Kept:
    prefix: weakref.ref | None  # the prefix whose keys fill the slot's first positions (None: no prefix)
    salt: str | None  # the cache_salt of the request that left it
    tokens: np.ndarray  # (T,) int64: the tokens after the prefix, in order
    used: int  # when it was kept or last taken: the least recently used is replaced first

    def holds(self, prefix: Prefix | None, salt: str | None) -> bool:
        """Whether a request of `prefix` and `salt` may start from the slot: the same salt, and the slot starts with
        `prefix` (the same object: a prefix reloaded under its name is another)."""
        if self.salt != salt:
            return False
        if self.prefix is None:
            return prefix is None
        return prefix is not None and self.prefix() is prefix  # a prefix gone since matches nothing


class PromptCache:
    def __init__(self):
        self.kept: dict[int, Kept] = {}  # free slot -> what it holds
        self._clock = 0

    def keep(self, slot: int, prefix: Prefix | None, salt: str | None, tokens: list[int]) -> None:
        """Slot `slot` (free) holds `prefix` then `tokens` (a finished row's sequence but its last token), left by a
        request with cache salt `salt`."""
        self._clock += 1
        ref = weakref.ref(prefix) if prefix is not None else None
        self.kept[slot] = Kept(ref, salt, np.asarray(tokens, np.int64), self._clock)

    def drop(self, slot: int) -> None:
        """Slot `slot` is about to be written (a row moves or is admitted into it): it keeps nothing."""
        self.kept.pop(slot, None)

    def clear(self) -> None:
        self.kept.clear()

    def spare(self, free: Iterable[int]) -> int | None:
        """Of the `free` slots, one to keep a sequence in: the last empty one (rows are admitted into the first free
        slot, so the last lasts longest), else the least recently used."""
        free = list(free)
        empty = [s for s in free if s not in self.kept]
        if empty:
            return empty[-1]
        return min(free, key=lambda s: self.kept[s].used, default=None)

    def aside(self, slot: int, free: Iterable[int], busy: int | None = None) -> int | None:
        """Where the entry kept in `slot`, which a row is about to take, goes instead: of the other `free` slots (not
        `busy`, which that row copies from), an empty one, else the least recently used if its entry is older; None if
        `slot` keeps nothing or no slot is worth it. The entry is recorded there; the caller copies the slot."""
        entry = self.kept.get(slot)
        target = self.spare(s for s in free if s not in (slot, busy)) if entry is not None else None
        if target is None or (target in self.kept and self.kept[target].used > entry.used):
            return None
        self.kept[target] = self.kept.pop(slot)
        return target

    def best(
        self,
        prefix: Prefix | None,
        salt: str | None,
        prompt: list[int],
        free: Iterable[int],
        running: Iterable[Running] = (),
    ) -> tuple[int, int] | None:
        """(slot, n): of the `free` slots kept here and the `running` rows, the slot whose tokens start like `prompt`
        the longest under `prefix` and `salt`, and how many tokens of the prompt it holds (at most all but the last);
        None if none holds even one."""
        ids = np.asarray(prompt[:-1], np.int64)  # (T - 1,)
        candidates = [(s, self.kept[s].tokens) for s in free if s in self.kept and self.kept[s].holds(prefix, salt)]
        candidates += [
            (s, np.asarray(tokens, np.int64))
            for s, owner, their_salt, tokens in running
            if owner is prefix and their_salt == salt
        ]
        found = None
        for slot, tokens in candidates:
            n = _common_start(tokens, ids)
            if n and (found is None or n > found[1]):
                found = (slot, n)
        if found is not None and found[0] in self.kept:
            self._clock += 1
            self.kept[found[0]].used = self._clock
        return found


def _common_start(a: np.ndarray, b: np.ndarray) -> int:
    """How many leading tokens a (m,) and b (k,) share."""
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])  # (d,)
    return int(differ[0]) if len(differ) else n
