"""One HTTP request's generation: submit its prompts to the engine, then turn token events into text pieces.

A request with several prompts (completions' list prompt) and `n` choices per prompt has one engine stream per
choice, prompt-major (choice p·n + i is prompt p's i-th, vLLM's numbering); their pieces are merged in arrival
order. With `echo` a choice's first piece starts with its prompt's text (and the prompt tokens' logprobs). Stop
strings, detokenizing, timeouts and latency metrics happen here, on the event loop, never on the engine thread.
Aborting (client gone, timeout, stop string) frees the engine rows.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.serving.engine.engine import Engine, RequestStream, SamplingParams
from prefixdeploy.serving.engine.requests import TokenLogprob
from prefixdeploy.serving.http.detokenize import ChoiceText
from prefixdeploy.serving.http.errors import from_engine_error
from prefixdeploy.serving.http.metrics import ServerMetrics


@dataclass
class Piece:
    """New output of one choice: text safe to show, the tokens that made it, and the finish reason at the end."""

    index: int
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None


@dataclass(frozen=True)
class Job:
    """What the HTTP layer decided for one request."""

    model: str  # the id the client asked for (echoed, and the metrics label)
    prefix: Prefix | None
    prompts: list[list[int]]  # params.n choices per prompt
    params: SamplingParams
    stop: list[str]
    timeout: float  # seconds from arrival; then every unfinished choice ends with "abort"
    prompt_param: str = "prompt"  # the request field a context-length error names ("messages" for chat)
    echo: list[str] | None = None  # completions' echo: each prompt's text, which its choices' text starts with
    echo_only: bool = False  # max_tokens 0 with echo: a choice is its prompt alone (the engine's one token dropped)

    @property
    def choices(self) -> int:
        return len(self.prompts) * self.params.n


class RequestRun:
    def __init__(self, job: Job, engine: Engine, metrics: ServerMetrics, tokenizer):
        self.job, self.metrics = job, metrics
        self.arrival = time.monotonic()
        self.streams = _submit_all(engine, job)
        self.texts = [ChoiceText(tokenizer, job.stop) for _ in range(job.choices)]
        self.finished = [False] * job.choices
        self.completion_tokens = 0
        metrics.prompt_tokens.labels(job.model).inc(self.prompt_tokens)

    @property
    def prompt_tokens(self) -> int:
        return sum(len(p) for p in self.job.prompts)  # real tokens only: a prefix's virtual tokens do not count

    @property
    def cached_tokens(self) -> int:
        """Of `prompt_tokens`, those the prompt cache held (each prompt's first choice counts them)."""
        return sum(stream.cached_tokens for stream in self.streams)

    def abort(self) -> None:
        for stream in self.streams:
            stream.abort()

    async def pieces(self) -> AsyncIterator[Piece]:
        """Every choice's pieces as they come; closing or cancelling the iterator aborts what still runs."""
        queue: asyncio.Queue[Piece | None] = asyncio.Queue()
        tasks = [asyncio.create_task(self._feed(i, queue)) for i in range(len(self.streams))]
        try:
            for _ in tasks:
                while (piece := await queue.get()) is not None:
                    yield piece
            for task in tasks:
                task.result()  # a bug in a feeder surfaces here instead of vanishing
        finally:
            for task in tasks:
                task.cancel()
            self.abort()
            for index, done in enumerate(self.finished):  # the client left or the stream failed
                if not done:
                    self._finish(Piece(index), "abort")

    async def _feed(self, index: int, queue: asyncio.Queue) -> None:
        try:
            async for piece in self._choice(index):
                queue.put_nowait(piece)
        finally:
            queue.put_nowait(None)

    async def _choice(self, index: int) -> AsyncIterator[Piece]:
        stream, text, model = self.streams[index], self.texts[index], self.job.model
        deadline = self.arrival + self.job.timeout
        last = None
        while True:
            try:
                event = await asyncio.wait_for(anext(stream), max(deadline - time.monotonic(), 0.0))
            except (asyncio.TimeoutError, StopAsyncIteration):  # Python 3.10: not yet TimeoutError
                stream.abort()
                yield self._finish(Piece(index, text.flush()), "abort")
                return
            except PrefixDeployError as e:  # the engine failed this request alone (non-finite logits)
                raise from_engine_error(e, self.job.prompt_param) from None
            if event.finish_reason == "abort":  # aborted by the engine (shutdown): no token rides on this event
                yield self._finish(Piece(index, text.flush()), "abort")
                return
            if self.job.echo_only:  # the prompt alone: the one token the engine chose (its last) is not returned
                yield self._finish(self._echoed(index, event, Piece(index)), "length")
                return
            first, now = last is None, time.monotonic()
            self._observe_token(model, now, last)
            last = now
            ends = event.finish_reason == "stop" and event.token_id in self.job.params.stop_token_ids
            piece = Piece(index, "" if ends else text.add(event.token_id), [event.token_id], _logprob(event))
            if first and self.job.echo is not None:
                piece = self._echoed(index, event, piece)
            if text.stopped:
                stream.abort()
                yield self._finish(piece, "stop")
                return
            if event.finish_reason is not None:
                piece.text += text.flush()
                yield self._finish(piece, event.finish_reason)
                return
            yield piece

    def _echoed(self, index: int, event, piece: Piece) -> Piece:
        """The choice's first piece, after its prompt: the prompt's text and (if asked) its tokens' logprobs."""
        echo = self.job.echo[index // self.job.params.n]
        return Piece(index, echo + piece.text, piece.token_ids, (event.prompt_logprobs or []) + piece.logprobs)

    def _observe_token(self, model: str, now: float, last: float | None) -> None:
        self.completion_tokens += 1
        self.metrics.generation_tokens.labels(model).inc()
        if last is None:
            self.metrics.ttft.labels(model).observe(now - self.arrival)
        else:
            self.metrics.inter_token.labels(model).observe(now - last)

    def _finish(self, piece: Piece, reason: str) -> Piece:
        piece.finish_reason = reason
        self.finished[piece.index] = True
        self.metrics.success.labels(self.job.model, reason).inc()
        self.metrics.e2e.labels(self.job.model).observe(time.monotonic() - self.arrival)
        return piece


def _submit_all(engine: Engine, job: Job) -> list[RequestStream]:
    """Submit every prompt or none: an engine refusal (400/429/503) aborts the prompts already queued."""
    streams: list[RequestStream] = []
    try:
        for prompt in job.prompts:
            streams += engine.submit_choices(prompt, job.prefix, job.params)
    except PrefixDeployError as e:
        for stream in streams:
            stream.abort()
        raise from_engine_error(e, job.prompt_param) from None
    return streams


def _logprob(event) -> list[TokenLogprob]:
    if event.logprob is None:
        return []
    return [TokenLogprob(event.token_id, event.logprob, list(event.top_logprobs or []))]
