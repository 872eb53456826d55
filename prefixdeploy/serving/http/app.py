"""The FastAPI app: routes, their order of checks (key, readiness, body, fields, model, engine) and responses.

`create_app(state)` builds one app around one `ServerState`; the server (server.py) runs it under uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing, asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from prefixdeploy.serving.http.errors import APIError, install_error_handlers
from prefixdeploy.serving.http.generation import Job, RequestRun
from prefixdeploy.serving.http.http_io import check_api_key, read_body, unless_disconnected
from prefixdeploy.serving.http.prompts import completion_prompts, echo_texts
from prefixdeploy.serving.http.protocol import (
    ChatRequest,
    CompletionRequest,
    PrefixLoadRequest,
    parse_body,
    sampling_params,
)
from prefixdeploy.serving.http.responses import (
    DONE,
    ChatFormat,
    CompletionFormat,
    ResponseFormat,
    json_response,
    sse,
    usage,
)
from prefixdeploy.serving.http.state import LOADING, READY, ServerState
from prefixdeploy.serving.http.structured import with_constraint
from prefixdeploy.serving.http.tools import tool_plan
from prefixdeploy.serving.http.ui import install_playground

log = logging.getLogger(__name__)

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def create_app(state: ServerState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loading = asyncio.create_task(state.start())
        yield
        loading.cancel()
        await state.close()

    app = FastAPI(title="prefixdeploy", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.router.redirect_slashes = False  # a 307 to `path/` built from the Host header, outside the envelope: 404
    app.state.server = state
    install_error_handlers(app, state.metrics)
    _status_routes(app, state)
    _generation_routes(app, state)
    _prefix_routes(app, state)
    if state.config.ui:
        install_playground(app)  # the playground page at / (serving/http/ui.py)
    return app


def _status_routes(app: FastAPI, state: ServerState) -> None:
    config = state.config

    @app.get("/health")
    async def health():
        status = 200 if state.phase == READY else 503
        return JSONResponse({"status": "ok" if status == 200 else state.phase}, status_code=status)

    @app.get("/metrics")
    async def metrics(request: Request):
        check_api_key(request, config.access, admin=True)
        text = await asyncio.to_thread(state.metrics.render)  # off the event loop: it grows with the series
        return Response(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/v1/models")
    async def models(request: Request):
        check_api_key(request, config.access)
        if state.phase == LOADING:
            state.require_ready()
        return {"object": "list", "data": state.registry.models()}


def _generation_routes(app: FastAPI, state: ServerState) -> None:
    config = state.config

    @app.post("/v1/completions")
    async def completions(request: Request):
        body = await _checked_body(request, state)
        req = parse_body(CompletionRequest, body)
        prefix = await state.registry.lookup(req.model)
        params = sampling_params(req, config.max_tokens_limit, req.logprobs)
        params = await with_constraint(req, params, state.bundle.grammars)
        prompts = await completion_prompts(req.prompt, state.bundle, prefix, state.prompt_limits)
        echo = echo_texts(req.prompt, prompts, state.bundle.codec) if req.echo else None
        timeout = config.request_timeout
        job = Job(
            req.model, prefix, prompts, params, req.stop_strings, timeout, echo=echo, echo_only=req.max_tokens == 0
        )
        tokenizer = state.bundle.codec.tokenizer
        fmt = CompletionFormat(req.model, tokenizer, prompts, req.logprobs is not None, req.return_token_ids, params.n)
        return await _respond(request, state, job, fmt, bool(req.stream), req.include_usage)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        body = await _checked_body(request, state)
        req = parse_body(ChatRequest, body)
        prefix = await state.registry.lookup(req.model)
        params = sampling_params(req, config.max_tokens_limit, (req.top_logprobs or 0) if req.logprobs else None)
        params = await with_constraint(req, params, state.bundle.grammars)
        prompt = await asyncio.to_thread(state.chat.encode, req.messages, prefix, tool_plan(req))
        job = Job(req.model, prefix, [prompt], params, req.stop_strings, config.request_timeout, "messages")
        tokenizer = state.bundle.codec.tokenizer
        fmt = ChatFormat(req.model, tokenizer, [prompt], bool(req.logprobs), req.return_token_ids, params.n)
        fmt = fmt.with_tools(tool_plan(req))
        return await _respond(request, state, job, fmt, bool(req.stream), req.include_usage)


def _prefix_routes(app: FastAPI, state: ServerState) -> None:
    """Runtime prefixes (404 unless the server was started with --allow-runtime-prefixes)."""

    @app.post("/v1/prefixes")
    async def load_prefix(request: Request):
        req = parse_body(PrefixLoadRequest, await _checked_body(request, state, admin=True))
        served = await state.registry.load(req.name, req.file)
        p = served.prefix
        return {
            "id": p.name,
            "object": "model",
            "created": served.created,
            "parent": state.registry.base_id,
            "num_virtual_tokens": p.num_virtual_tokens,
        }

    @app.delete("/v1/prefixes/{name}")
    async def unload_prefix(name: str, request: Request):
        check_api_key(request, state.config.access, admin=True)
        state.require_ready()
        state.registry.unload(name)
        state.metrics.forget_model(name)
        return {"id": name, "object": "model", "deleted": True}


async def _checked_body(request: Request, state: ServerState, admin: bool = False) -> bytes:
    check_api_key(request, state.config.access, admin)
    state.require_ready()
    return await read_body(request, state.config.max_body_bytes, state.config.body_timeout)


async def _respond(
    request: Request, state: ServerState, job: Job, fmt: ResponseFormat, stream: bool, include_usage: bool
) -> Response:
    state.require_ready()  # the prompt was tokenized meanwhile: the server may have started draining
    run = RequestRun(job, state.engine, state.metrics, state.bundle.codec.tokenizer)
    state.active += 1
    if stream:
        events = _event_stream(run, fmt, include_usage, state.config.prompt_tokens_details)
        return _EventStreamResponse(events, lambda: _closed(run, state))
    try:
        body = await unless_disconnected(request, _collect(run, fmt, state.config.prompt_tokens_details))
    finally:
        state.active -= 1
    return json_response(body) if body is not None else Response(status_code=499)


async def _collect(run: RequestRun, fmt: ResponseFormat, details: bool) -> dict:
    async with aclosing(run.pieces()) as pieces:
        async for piece in pieces:
            fmt.add(piece)
    return fmt.body(_usage(run, details))


def _usage(run: RequestRun, details: bool) -> dict:
    """The run's usage; `details` (`--enable-prompt-tokens-details`): with the prompt tokens the cache held."""
    return usage(run.prompt_tokens, run.completion_tokens, run.cached_tokens if details else None)


def _closed(run: RequestRun, state: ServerState) -> None:
    run.abort()
    state.active -= 1


class _EventStreamResponse(StreamingResponse):
    """An SSE response that always runs `on_close`, even if the client left before the first byte."""

    def __init__(self, events: AsyncIterator[bytes], on_close):
        super().__init__(events, media_type="text/event-stream", headers=SSE_HEADERS)
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()
            self.on_close()


async def _event_stream(
    run: RequestRun, fmt: ResponseFormat, include_usage: bool, details: bool
) -> AsyncIterator[bytes]:
    """SSE: chunks as pieces arrive, then the usage chunk if asked, then [DONE]; an error ends it as one event."""
    try:
        if isinstance(fmt, ChatFormat):
            for chunk in fmt.role_chunks():
                yield sse(chunk)
        async with aclosing(run.pieces()) as pieces:
            async for piece in pieces:
                fmt.add(piece)
                if piece.text or piece.finish_reason or piece.logprobs or fmt.with_token_ids:
                    chunk = fmt.chunk(piece)
                    if chunk is not None:  # a tool call is held back to the last chunk
                        yield sse(chunk)
        if include_usage:
            yield sse(fmt.usage_chunk(_usage(run, details)))
        yield DONE
    except Exception as e:  # the status line is gone: the error travels in the stream, then the stream closes
        if not isinstance(e, APIError):
            log.exception("internal error while streaming")
            e = APIError(500, "internal server error (a bug in prefixdeploy; see the server log)")
        yield sse(e.body())
