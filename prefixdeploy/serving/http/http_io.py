"""The HTTP edges of a request: the API key (constant-time compare), the body's size and time limits, client
disconnects."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
from collections.abc import Coroutine

from starlette.requests import ClientDisconnect, Request

from prefixdeploy.serving.http.access import AccessKeys
from prefixdeploy.serving.http.errors import APIError, bad_request


def check_api_key(request: Request, keys: AccessKeys, admin: bool = False) -> None:
    """401 unless `Authorization: Bearer <key>` carries a key of the route's kind (none configured: open); 403 for
    an inference key on an admin route (prefix load/unload, /metrics)."""
    allowed = keys.for_admin if admin else keys.for_inference
    if not allowed:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise APIError(401, "missing API key: send 'Authorization: Bearer <key>'", code="invalid_api_key")
    given_bytes = given.strip().encode()
    if _matches(given_bytes, allowed):
        return
    if admin and _matches(given_bytes, keys.inference):
        raise APIError(403, "this route needs the server's admin key", code="admin_key_required")
    raise APIError(401, "incorrect API key", code="invalid_api_key")


def _matches(given: bytes, keys: tuple[str, ...]) -> bool:
    """Constant-time against every key (no early exit that would tell which one came close)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The whole body; 413 as soon as it is known to exceed `limit` bytes (declared or streamed), 408 (and the
    connection closes) if it has not all arrived within `timeout` seconds."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise bad_request("the Content-Length header is not a number")
        if int(declared) > limit:
            raise _too_large(limit)
    try:
        return await asyncio.wait_for(_read_chunks(request, limit), timeout)
    except asyncio.TimeoutError:  # Python 3.10: not yet TimeoutError
        raise APIError(408, f"the request's body did not arrive within {timeout:g} s", code="body_timeout") from None
    except ClientDisconnect:  # nobody will read the answer: counted, not logged
        raise APIError(499, "the client left before sending its whole body", code="client_disconnected") from None


async def _read_chunks(request: Request, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(limit: int) -> APIError:
    return APIError(413, f"the request body is larger than this server's limit of {limit} bytes", code="too_large")


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client goes away (call only after the body was read: this owns `receive` from then on)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine):
    """Await `work`; if the client disconnects first, cancel it (which aborts its engine rows) and return None."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return None if task.cancelled() else task.result()
