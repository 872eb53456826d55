"""The serving engine: one thread owns the KV slots and runs continuous mixed-prefix batching; requests stream back.

Each step, the scheduler (`scheduler.py`) plans the work: drop aborted rows, prefill one chunk of a queued prompt
(while other rows decode, at most `max_prefill_tokens`; while none does, a whole prompt; with `max_prefill_prompts`
above 1, more queued prompts within that budget), then decode every running row in one batched call, or verify a lone
greedy row's prompt-lookup draft; the executor (`executor.py`) runs each piece of work through the runtime's KV slots
(`runtime.kv.KVSlots`) and the one token-choice function. Requests join at the next step and leave when they finish,
and their slots are reused. `submit` validates synchronously and returns a `RequestStream` (async); events reach the
caller's asyncio loop through `call_soon_threadsafe`. Must not import torch or an HTTP framework.
"""

from __future__ import annotations

import asyncio
import logging
import operator
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator

from prefixdeploy.errors import ConfigError, ContextLengthError, PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.kv import KVSlots
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS, EngineConfig, slot_length
from prefixdeploy.serving.engine.executor import Executor, NonFiniteLogitsError
from prefixdeploy.serving.engine.requests import (
    Request,
    RequestStream,
    SamplingParams,
    TokenEvent,
    abort_event,
    iterate_sync,
    make_choices,
    out_of_vocabulary,
)
from prefixdeploy.serving.engine.scheduler import Scheduler
from prefixdeploy.serving.engine.work import StepStats

__all__ = [
    "Engine",
    "EngineConfig",
    "EngineDrainingError",
    "NonFiniteLogitsError",
    "QueueFullError",
    "RequestStream",
    "SamplingParams",
    "StepStats",
    "TokenEvent",
]

log = logging.getLogger(__name__)

JOIN_TIMEOUT = 60.0  # seconds to wait for the engine thread's last step after shutdown's own timeout


class QueueFullError(PrefixDeployError):
    """Every slot is taken and `max_queue` requests already wait for one (HTTP 429)."""


class EngineDrainingError(PrefixDeployError):
    """The engine is shutting down and admits no new requests (HTTP 503)."""


class Engine:
    """Continuous batching over one bundle's ONNX Runtime graph. `start()`, then `submit(...)`; `shutdown(t)`."""

    def __init__(
        self, bundle: Bundle, config: EngineConfig = ENGINE_DEFAULTS, on_step: Callable[[StepStats], None] | None = None
    ):
        """on_step: called on the engine thread after every step that did work (keep it quick; errors are logged)."""
        _check_graph(bundle)
        self.bundle, self.config, self.on_step = bundle, config, on_step
        manifest = bundle.manifest
        self.max_model_len = slot_length(config.max_model_len, manifest.max_context)
        if self.max_model_len > manifest.max_context:
            raise PrefixDeployError(
                f"max_model_len {self.max_model_len} exceeds the model's context of {manifest.max_context} tokens"
            )
        slots = KVSlots(bundle.backend, manifest, config.max_num_seqs, self.max_model_len)
        log.info(
            "engine: %d slots × %d tokens, %.0f MB of KV buffers",
            config.max_num_seqs,
            self.max_model_len,
            slots.kv.nbytes / 1e6,
        )
        if config.prompt_lookup and not slots.extends:
            raise PrefixDeployError(
                f"prompt lookup needs an ONNX Runtime graph that takes logits_to_keep; {bundle.graph.file} was "
                "exported before it: re-export the bundle, or serve without prompt_lookup",
                fields=("prompt_lookup",),
            )
        self._executor = Executor(slots)
        self._scheduler = Scheduler(
            config.max_num_seqs,
            config.max_prefill_tokens,
            manifest.eos_token_ids,
            prompt_lookup=config.prompt_lookup,
            lookup_history=config.lookup_history,
            mixed_steps=self._executor.mixes,
            max_prefill_prompts=config.max_prefill_prompts,
            prompt_cache=config.prompt_cache,
        )
        self._cv = threading.Condition()  # guards _waiting and the flags; wakes the engine thread and shutdown
        self._waiting: deque[Request] = deque()
        self._draining = self._stopping = False
        self._thread: threading.Thread | None = None

    # -- the caller's side -------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the engine thread (it owns the KV slots from now on)."""
        if self._thread is not None:
            raise PrefixDeployError("the engine is already started")
        self._thread = threading.Thread(target=self._loop, name="prefixdeploy-engine", daemon=True)
        self._thread.start()

    def submit(self, prompt_ids: list[int], prefix: Prefix | None, params: SamplingParams) -> RequestStream:
        """Validate and queue a request of one choice; its events arrive on the running asyncio loop of the caller.

        Raises (before anything is queued) ContextLengthError, QueueFullError, EngineDrainingError, or
        PrefixDeployError for an empty prompt, an out-of-vocabulary id or a prefix of another geometry.
        """
        _one_choice(params, "submit_choices")
        return self.submit_choices(prompt_ids, prefix, params)[0]

    def submit_choices(
        self, prompt_ids: list[int], prefix: Prefix | None, params: SamplingParams
    ) -> list[RequestStream]:
        """`submit` for `params.n` choices of one prompt: one stream each, choice i first. The prompt is prefilled
        once and its KV copied to a slot per choice; each choice samples with its own RNG (seed + i) and processors.
        A request waits until it has a slot for every choice (n above max_num_seqs: ConfigError naming `n`)."""
        loop = asyncio.get_running_loop()
        queues = [asyncio.Queue() for _ in range(params.n)]
        delivers = [lambda item, q=q: loop.call_soon_threadsafe(q.put_nowait, item) for q in queues]
        choices = self._enqueue(prompt_ids, prefix, params, delivers)
        return [RequestStream(request, q, self._wake) for request, q in zip(choices, queues)]

    def submit_sync(self, prompt_ids: list[int], prefix: Prefix | None, params: SamplingParams) -> Iterator[TokenEvent]:
        """`submit` for hosts without asyncio: a blocking iterator of events (closing it aborts the request)."""
        _one_choice(params, "submit_choices from asyncio")
        events: queue.Queue = queue.Queue()
        (request,) = self._enqueue(prompt_ids, prefix, params, [events.put])
        return iterate_sync(request, events, self._wake)

    def shutdown(self, timeout: float) -> None:
        """Stop admitting (submit -> EngineDrainingError), give running and waiting requests `timeout` seconds to
        finish, end the rest with finish_reason "abort", and stop the thread. Blocks; from a coroutine use
        `await engine.ashutdown(timeout)` so the loop keeps delivering events meanwhile. Idempotent."""
        with self._cv:
            self._draining = True
            self._cv.notify_all()
            if self._thread is not None and self._thread.is_alive():
                self._cv.wait_for(self._idle, timeout)
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(JOIN_TIMEOUT)
            if self._thread.is_alive():
                log.error("the engine thread did not stop within %.0f s of shutdown", JOIN_TIMEOUT)
                return
        self._abort_waiting()  # never started, or stopped: nobody else will answer them

    async def ashutdown(self, timeout: float) -> None:
        await asyncio.to_thread(self.shutdown, timeout)

    @property
    def running(self) -> int:
        return len(self._scheduler.rows)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def draining(self) -> bool:
        return self._draining

    def _enqueue(
        self, prompt_ids, prefix: Prefix | None, params: SamplingParams, delivers: list[Callable]
    ) -> list[Request]:
        """Queue one request (its first choice, carrying the others); `max_queue` counts requests, not choices."""
        if len(prompt_ids) > self.max_model_len:  # before any work per id: it cannot fit, whatever the ids are
            raise ContextLengthError(
                f"the prompt's {len(prompt_ids)} tokens exceed the context of {self.max_model_len} tokens; shorten it"
            )
        try:
            prompt_ids = [operator.index(t) for t in prompt_ids]  # ints (numpy's too), never floats or strings
        except TypeError:
            raise PrefixDeployError("the prompt's token ids must be integers") from None
        prefix = self._check_request(prompt_ids, prefix, params)
        choices = make_choices(prompt_ids, prefix, params, delivers, self.bundle.manifest.eos_token_ids)
        request = choices[0]
        with self._cv:
            if self._draining:
                raise EngineDrainingError("the server is shutting down and accepts no new requests")
            free = max(0, self.config.max_num_seqs - len(self._scheduler.rows))  # taken at the next step
            if len(self._waiting) >= self.config.max_queue + free:
                raise QueueFullError(
                    f"the queue is full ({self.config.max_queue} requests waiting for "
                    f"{self.config.max_num_seqs} slots); retry later"
                )
            self._waiting.append(request)
            self._cv.notify_all()
        return choices

    def _check_request(self, prompt_ids: list[int], prefix: Prefix | None, params: SamplingParams) -> Prefix | None:
        """Raise the user's error for a request that cannot run; returns the prefix its row uses."""
        manifest = self.bundle.manifest
        if not isinstance(params, SamplingParams):
            raise PrefixDeployError(f"params must be SamplingParams, got {type(params).__name__}")
        if len(prompt_ids) == 0:
            raise PrefixDeployError("the prompt is empty (0 tokens); give some text")
        bad = out_of_vocabulary(prompt_ids, manifest.vocab_size)
        if bad is not None:
            raise PrefixDeployError(f"prompt token id {bad} is outside the vocabulary [0, {manifest.vocab_size})")
        params.check_token_ids(manifest.vocab_size)
        if params.n > self.config.max_num_seqs:
            raise ConfigError(
                f"n: {params.n} choices need {params.n} rows at once; this engine runs {self.config.max_num_seqs} "
                "(max_num_seqs): ask for fewer",
                "n",
            )
        if params.prompt_logprobs is not None and not self._executor.slots.extends:
            raise ConfigError(
                f"prompt logprobs need an ONNX Runtime graph that takes logits_to_keep; {self.bundle.graph.file} was "
                "exported before it: re-export the bundle",
                "prompt_logprobs",
            )
        if prefix is None and manifest.mode == "baked":
            prefix = self.bundle.resolve(None)  # the baked prefix (a bank needs a choice: resolve says so)
        if prefix is not None:
            prefix.check_fits(manifest.model, f"bundle {self.bundle.path.name}")
        P = prefix.num_virtual_tokens if prefix is not None else 0
        need = P + len(prompt_ids) + params.max_tokens
        if need > self.max_model_len:
            raise ContextLengthError(
                f"prefix {P} + prompt {len(prompt_ids)} + max_tokens {params.max_tokens} = {need} tokens exceeds "
                f"the context of {self.max_model_len} tokens; shorten the prompt or lower max_tokens"
            )
        return prefix

    def _wake(self) -> None:
        with self._cv:
            self._cv.notify_all()

    # -- the engine thread ---------------------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._cv:
                self._cv.wait_for(lambda: self._stopping or not self._idle())
                if self._stopping:
                    break
                self._drop_aborted_waiting()
            try:
                stats = self._scheduler.step(self._take_waiting, self._executor.run)
            except Exception as e:  # a bug of ours: fail the running requests, keep serving the rest
                log.exception("engine step failed; failing its %d running requests", self.running)
                self._scheduler.fail_all(e)
                continue
            self._report(stats)
            with self._cv:
                self._cv.notify_all()  # shutdown may be waiting for idle
        self._scheduler.abort_all()
        self._abort_waiting()

    def _idle(self) -> bool:
        return not self._waiting and not self._scheduler.rows

    def _any_aborted(self) -> bool:
        return any(r.all_aborted() for r in self._waiting)

    def _take_waiting(self, free: int) -> Request | None:
        """The first queued request, if it needs at most `free` slots (first come, first served: a request of n
        choices is not overtaken while it waits for n slots)."""
        with self._cv:
            while self._waiting:
                request = self._waiting[0]
                if not request.all_aborted():
                    return self._waiting.popleft() if request.slots <= free else None
                _abort(self._waiting.popleft())
        return None

    def _drop_aborted_waiting(self) -> None:
        """Caller holds the lock."""
        if self._any_aborted():
            for request in [r for r in self._waiting if r.all_aborted()]:
                self._waiting.remove(request)
                _abort(request)

    def _abort_waiting(self) -> None:
        with self._cv:
            while self._waiting:
                _abort(self._waiting.popleft())

    def _report(self, stats: StepStats) -> None:
        if self.on_step is not None and (stats.rows or stats.prefill_tokens):
            try:
                self.on_step(stats)
            except Exception:
                log.exception("the on_step callback failed")


def _abort(request: Request) -> None:
    """A queued request ends: every choice gets its "abort" event."""
    for choice in (request, *request.siblings):
        choice.deliver(abort_event())


def _one_choice(params: SamplingParams, instead: str) -> None:
    if params.n != 1:
        raise ConfigError(f"n: this call returns one choice's events; for n = {params.n} use {instead}", "n")


def _check_graph(bundle: Bundle) -> None:
    if bundle.graph.kind == "ort":
        return
    have = sorted({g.precision for g in bundle.manifest.graphs if g.kind == "ort"})
    hint = (
        f"load it with precision= one of {', '.join(have)} and backend 'ort'"
        if have
        else "re-export it with an ONNX Runtime graph (prefixdeploy export --precision fp32, int8 or int4)"
    )
    raise PrefixDeployError(
        f"the serving engine needs the bundle's ONNX Runtime graph (fused attention over in-place KV buffers); "
        f"{bundle.path.name} is loaded with its portable graph {bundle.graph.file}: {hint}"
    )
