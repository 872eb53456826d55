"""HTTP errors in OpenAI's envelope, `{"error": {"message", "type", "param", "code"}}`, and their statuses.

Statuses: 400 invalid request (malformed JSON, bad fields, `code: "context_length_exceeded"`), 401 missing or wrong
key, 403 an inference key on an admin route, 404 unknown model or route, 408 headers or body too slow (the connection
closes), 409 the cap on runtime prefixes reached, 413 body too large, 429 queue full (with `Retry-After`), 503
loading, draining or too many connections, 500 only for our own bugs (logged with the traceback; the body never
carries it).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from prefixdeploy.errors import ConfigError, ContextLengthError, PrefixDeployError

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    408: "timeout_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
    503: "service_unavailable_error",
    500: "internal_server_error",
}
RETRY_AFTER_SECONDS = 1


class APIError(Exception):
    """An error the client caused or must wait out; rendered as the OpenAI envelope with `status`."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = _TYPES.get(self.status, "invalid_request_error")
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}

    def headers(self) -> dict[str, str]:
        if self.status == 408:  # the request is half read: the connection cannot carry another one
            return {"Connection": "close"}
        return {"Retry-After": str(RETRY_AFTER_SECONDS)} if self.status == 429 else {}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers())


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param, code)


def from_engine_error(error: PrefixDeployError, prompt_param: str) -> APIError:
    """The status of an error the engine raised from `submit` (queue full, draining, context, bad params) or for a
    running request (non-finite logits: 500, as the server cannot answer it, but no bug and no traceback)."""
    from prefixdeploy.serving.engine.engine import EngineDrainingError, NonFiniteLogitsError, QueueFullError

    if isinstance(error, NonFiniteLogitsError):
        return APIError(500, str(error), code="non_finite_logits")
    if isinstance(error, QueueFullError):
        return APIError(429, f"the server is busy: {error}; retry shortly", code="queue_full")
    if isinstance(error, EngineDrainingError):
        return APIError(503, "the server is shutting down; send the request elsewhere", code="draining")
    if isinstance(error, ContextLengthError):
        return bad_request(str(error), prompt_param, "context_length_exceeded")
    if isinstance(error, ConfigError) and error.fields:
        return bad_request(str(error), error.fields[0])
    return bad_request(str(error))


REJECTION_REASONS = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    408: "timeout",
    409: "limit_reached",
    413: "too_large",
    429: "queue_full",
    499: "client_disconnected",
    503: "unavailable",
}


def install_error_handlers(app: FastAPI, metrics) -> None:
    """Every error leaves as the envelope: ours, Starlette's (404 route, 405 method) and unexpected ones (500)."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, error: APIError) -> JSONResponse:
        metrics.rejected.labels(REJECTION_REASONS.get(error.status, str(error.status))).inc()
        return error.response()

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        message = "no such route" if error.status_code == 404 else str(error.detail)
        return APIError(error.status_code, f"{message}: {request.method} {request.url.path}").response()

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return APIError(500, "internal server error (a bug in prefixdeploy; see the server log)").response()
