"""What a request is on both sides of the engine thread: its sampling params, its events, and its async stream.

The engine thread only calls `Request.deliver`; the consumer (an asyncio task, or a plain thread through
`iterate_sync`) reads events in order and may `abort` at any time (the row is dropped at the next engine step).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.constraints import CompiledConstraint
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.runtime.processors import row_processors
from prefixdeploy.runtime.sampling import LogitsProcessor, TokenChoice, log_softmax

log = logging.getLogger(__name__)

MAX_LOGPROBS = 5
# Below this (and above 0) sampling is greedy, its limit: logits / T would overflow to inf and the probabilities to
# NaN (5e-324 gave token 0 forever). vLLM treats temperatures under 1e-5 as greedy too.
MIN_TEMPERATURE = 1e-5
ABORT_TOKEN = -1  # token_id of an "abort" event: it carries no token


@dataclass(frozen=True, kw_only=True)
class SamplingParams:
    max_tokens: int = 16
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0  # 0: off; tokens less likely than min_p times the most likely one are dropped (vLLM's)
    seed: int | None = None  # per-request RNG; same seed -> same tokens
    logprobs: int | None = None  # None: none; 0..5: the chosen token's logprob plus this many top ones
    ignore_eos: bool = False
    logits_processors: tuple[LogitsProcessor, ...] = ()  # applied in order before the choice (runtime.sampling)
    constraint: CompiledConstraint | None = None  # the output must match it; each request gets its own matcher
    # the request fields of OpenAI and vLLM, as runtime.processors applies them
    logit_bias: dict[int, float] | None = None  # token id -> added to its logit (-100..100)
    presence_penalty: float = 0.0  # -2..2
    frequency_penalty: float = 0.0  # -2..2
    repetition_penalty: float = 1.0  # > 0; 1: off
    min_tokens: int = 0  # the end tokens (EOS, stop_token_ids) are banned before this many tokens
    stop_token_ids: tuple[int, ...] = ()  # these end the row too ("stop"), also with ignore_eos
    n: int = 1  # choices: one prefill, its KV copied to n rows; choice i draws with seed + i (vLLM's rule)
    prompt_logprobs: int | None = None  # None: none; 0..5: each prompt token's logprob plus this many top ones
    cache_prompt: bool = True  # False: prefill the whole prompt, never starting from the prompt cache
    cache_salt: str | None = None  # the prompt cache shares a slot only among requests with the same salt (vLLM's)

    def __post_init__(self):
        if self.max_tokens < 1:
            raise PrefixDeployError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if not self.temperature >= 0:  # NaN too
            raise PrefixDeployError(f"temperature must be ≥ 0, got {self.temperature}")
        if self.temperature < MIN_TEMPERATURE:
            object.__setattr__(self, "temperature", 0.0)
        if not 0.0 < self.top_p <= 1.0:
            raise PrefixDeployError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise PrefixDeployError(f"top_k must be ≥ 0 (0: off), got {self.top_k}")
        if not 0.0 <= self.min_p <= 1.0:  # NaN too
            raise ConfigError(f"min_p must be in [0, 1], got {self.min_p}", "min_p")
        for name in ("logprobs", "prompt_logprobs"):
            k = getattr(self, name)
            if k is not None and not 0 <= k <= MAX_LOGPROBS:
                raise ConfigError(f"{name} must be between 0 and {MAX_LOGPROBS}, got {k}", name)
        if self.n < 1:
            raise ConfigError(f"n must be at least 1, got {self.n}", "n")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2.0 <= getattr(self, name) <= 2.0:
                raise ConfigError(f"{name} must be between -2 and 2, got {getattr(self, name)}", name)
        if not 0.0 < self.repetition_penalty <= 10.0:
            raise ConfigError(
                f"repetition_penalty must be in (0, 10], got {self.repetition_penalty}", "repetition_penalty"
            )
        if any(not -100.0 <= v <= 100.0 for v in (self.logit_bias or {}).values()):
            raise ConfigError("logit_bias values must be between -100 and 100", "logit_bias")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise ConfigError(f"min_tokens must be between 0 and max_tokens ({self.max_tokens})", "min_tokens")

    def check_token_ids(self, vocab_size: int) -> None:
        """The token ids this request names (logit_bias, stop_token_ids) exist in the vocabulary."""
        for name, ids in (("logit_bias", self.logit_bias or {}), ("stop_token_ids", self.stop_token_ids)):
            bad = [t for t in ids if not 0 <= t < vocab_size]
            if bad:
                raise ConfigError(f"{name}: token id {bad[0]} is outside the vocabulary [0, {vocab_size})", name)


@dataclass(frozen=True)
class TokenLogprob:
    """What the model made of one token where it stood: log p(token) and the most likely tokens there, best first."""

    token_id: int
    logprob: float | None  # None for a prompt's first token: nothing before it is scored
    top: list[tuple[int, float]] | None


@dataclass(frozen=True)
class TokenEvent:
    """One generated token, in order; the last event of a request has `finish_reason` set."""

    token_id: int  # ABORT_TOKEN (-1) on an "abort" event, which carries no token
    logprob: float | None  # log p(token_id) under the model's raw distribution; None unless params.logprobs is set
    top_logprobs: list[tuple[int, float]] | None  # the params.logprobs most likely (token, log p), best first
    finish_reason: str | None  # None while running; "stop" (EOS), "length" or "abort" on the last event
    # on the first event, with params.prompt_logprobs: one entry per prompt token (the first's logprob is None)
    prompt_logprobs: list[TokenLogprob] | None = None


class Request:
    """The engine's view of one choice of a request: its inputs, its RNG, and where its events go.

    A request with n > 1 choices is n of these: the first (index 0) is queued and prefilled; the others are its
    `siblings`, forked from its slot once its prompt is in (each then its own row, RNG and processors)."""

    def __init__(
        self,
        prompt_ids: list[int],
        prefix: Prefix | None,
        params: SamplingParams,
        deliver: Callable,
        eos_token_ids: Sequence[int] = (),
        index: int = 0,
    ):
        self.id = f"req-{uuid.uuid4().hex}"
        self.prompt_ids, self.prefix, self.params, self.index = prompt_ids, prefix, params, index
        self.rng = np.random.default_rng(None if params.seed is None else params.seed + index)  # vLLM: seed + index
        self.siblings: list[Request] = []  # the other choices (set on index 0 only)
        self.choice = TokenChoice(
            params.temperature, params.top_k, params.top_p, self.rng, _processors(self, eos_token_ids), params.min_p
        )
        self.aborted = False  # set by the consumer's thread; read by the engine at its next step
        self.finished = False  # the final event (or an error) was delivered
        self.cached_tokens = 0  # prompt tokens the prompt cache held at admission (set by the scheduler; choice 0)
        self._deliver = deliver

    @property
    def slots(self) -> int:
        """The KV slots this request takes once admitted: one per choice."""
        return 1 + len(self.siblings)

    def all_aborted(self) -> bool:
        """Every choice's consumer gave up (a group not yet forked is dropped only then)."""
        return self.aborted and all(s.aborted for s in self.siblings)

    def deliver(self, item: TokenEvent | BaseException) -> None:
        """Hand an event (or the exception that failed the request) to the consumer; engine thread only."""
        self.finished = self.finished or not isinstance(item, TokenEvent) or item.finish_reason is not None
        try:
            self._deliver(item)
        except RuntimeError:  # the consumer's event loop is closed: nobody is listening any more
            log.debug("request %s: its event loop is closed; dropping it", self.id)
            self.aborted = True


def _processors(request: Request, eos_token_ids: Sequence[int]) -> tuple[LogitsProcessor, ...]:
    """The caller's processors, then the request fields' (runtime.processors; a fresh matcher for a constraint)."""
    p = request.params
    return p.logits_processors + row_processors(
        request.prompt_ids,
        logit_bias=p.logit_bias,
        presence_penalty=p.presence_penalty,
        frequency_penalty=p.frequency_penalty,
        repetition_penalty=p.repetition_penalty,
        constraint=p.constraint.processor() if p.constraint is not None else None,
        min_tokens=p.min_tokens,
        end_ids=[*eos_token_ids, *p.stop_token_ids],
    )


def out_of_vocabulary(ids: list[int], vocab_size: int) -> int | None:
    """The first id of `ids` outside [0, vocab_size), or None; one vectorized comparison, not a loop per id."""
    arr = np.asarray(ids)  # (T,) int64 (object for ints beyond int64, which compare the same)
    bad = np.flatnonzero((arr < 0) | (arr >= vocab_size))
    return int(arr[bad[0]]) if len(bad) else None


def make_choices(
    prompt_ids: list[int], prefix: Prefix | None, params: SamplingParams, delivers: Sequence[Callable], eos_ids
) -> list[Request]:
    """The `params.n` choices of one prompt (one `deliver` each): the first carries the others as its siblings."""
    choices = [Request(prompt_ids, prefix, params, d, eos_ids, index=i) for i, d in enumerate(delivers)]
    choices[0].siblings = choices[1:]
    return choices


def token_event(
    request: Request,
    logits: np.ndarray,
    token: int,
    finish_reason: str | None,
    prompt_logprobs: list[TokenLogprob] | None = None,
) -> TokenEvent:
    """The event for `token` chosen from logits (V,); logprobs only when the request asked for them."""
    k = request.params.logprobs
    if k is None:
        return TokenEvent(token, None, None, finish_reason, prompt_logprobs)
    entry = token_logprob(log_softmax(logits), token, k)  # the model's raw distribution (before processors)
    return TokenEvent(token, entry.logprob, entry.top, finish_reason, prompt_logprobs)


def prompt_token_logprobs(logits: np.ndarray, targets: Sequence[int], k: int) -> list[TokenLogprob]:
    """Teacher forcing: logits (T, V) after T fed positions, targets (T,) the prompt tokens that follow each."""
    return [token_logprob(log_softmax(z), t, k) for z, t in zip(logits, targets)]  # row by row: (V,) float64 each


def token_logprob(logp: np.ndarray, token: int, k: int) -> TokenLogprob:
    """log p(token) and the k most likely tokens, from log-probabilities logp (V,)."""
    best = np.argpartition(-logp, k)[:k] if 0 < k < len(logp) else np.arange(0)  # (k,) the k most likely
    best = best[np.argsort(-logp[best], kind="stable")]  # (k,) most likely first
    return TokenLogprob(int(token), float(logp[token]), [(int(t), float(logp[t])) for t in best])


def abort_event() -> TokenEvent:
    return TokenEvent(ABORT_TOKEN, None, None, "abort")


class RequestStream:
    """An async iterator of a request's TokenEvents; ends after the event whose finish_reason is set.

    Cancelling the consuming task, `aclose()` or dropping the stream aborts the request (a client that went away).
    A request the engine failed raises that exception from `__anext__`.
    """

    def __init__(self, request: Request, events: asyncio.Queue, wake: Callable[[], None]):
        self.request_id, self.prompt_tokens = request.id, len(request.prompt_ids)
        self._request, self._events, self._wake, self._done = request, events, wake, False

    @property
    def cached_tokens(self) -> int:
        """Of its prompt, the tokens the prompt cache held when it was admitted (not prefilled). Counted on choice 0
        only: the other choices are forked from its slot. Final once the first event has arrived."""
        return self._request.cached_tokens

    def __aiter__(self) -> RequestStream:
        return self

    async def __anext__(self) -> TokenEvent:
        if self._done:
            raise StopAsyncIteration
        try:
            item = await self._events.get()
        except asyncio.CancelledError:
            self.abort()
            raise
        return self._take(item)

    def _take(self, item: TokenEvent | BaseException) -> TokenEvent:
        if isinstance(item, BaseException):
            self._done = True
            raise item
        self._done = item.finish_reason is not None
        return item

    def abort(self) -> None:
        """Idempotent: the engine drops the row at its next step and sends a final "abort" event."""
        if not self._request.aborted and not self._request.finished:
            self._request.aborted = True
            self._wake()

    async def aclose(self) -> None:
        self._done = True
        self.abort()

    def __del__(self):
        try:
            self.abort()
        except Exception:  # during interpreter shutdown the engine may already be gone
            pass


def iterate_sync(request: Request, events: queue.Queue, wake: Callable[[], None]) -> Iterator[TokenEvent]:
    """The blocking form of RequestStream (for hosts without asyncio); closing the generator aborts the request."""
    try:
        while True:
            item = events.get()
            if isinstance(item, BaseException):
                raise item
            yield item
            if item.finish_reason is not None:
                return
    finally:
        if not request.finished:
            request.aborted = True
            wake()
