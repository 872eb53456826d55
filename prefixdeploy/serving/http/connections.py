"""Connection limits under uvicorn: a cap on open connections and a deadline for each request's headers.

uvicorn bounds neither (its `limit_concurrency` is checked only once a request's headers are complete, and answers
in plain text; `timeout_keep_alive` covers only the idle time between requests and restarts at every byte; a
request-start timeout is uvicorn issue #157, open since 2018), so a client that opens connections and never finishes
their headers holds them, and their file descriptors, forever. `guarded_protocol` wraps uvicorn's HTTP protocol
class (httptools or h11, whichever uvicorn picked):
- a connection beyond `max_connections` is answered 503 (`too_many_connections`) and closed at once;
- a request whose headers are not complete `header_timeout` seconds after its first byte (or after the connection
  opened) is answered 408 (`header_timeout`) and closed: dripping a byte at a time does not extend it.
A refused connection stays open at most LINGER_SECONDS more, reading and dropping input, so that the response is not
lost to a reset.
The body's deadline is the app's (`http_io.read_body`), as only the route knows whether it reads one.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus

from prefixdeploy.serving.http.errors import APIError

log = logging.getLogger(__name__)

LINGER_SECONDS = 1.0  # how long a refused connection may stay open for its response to reach the client


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int  # open connections; one more is answered 503 and closed
    header_timeout: float  # seconds for a request's headers, from its first byte (or the connection's opening)
    on_refused: Callable[[str], None] = lambda reason: None  # called with "too_many_connections" or "header_timeout"


def guarded_protocol(base: type[asyncio.Protocol], limits: ConnectionLimits) -> type[asyncio.Protocol]:
    """uvicorn's protocol class `base` with the connection cap and the header deadline of `limits`."""

    class GuardedProtocol(base):
        _registered = False  # uvicorn knows the connection (not refused at the door)
        _refused = False  # answered and closing: what the client still sends is read and dropped
        _header_timer: asyncio.TimerHandle | None = None
        _cycle_when_armed = None  # the request cycle before the awaited headers (a new one means they arrived)

        def connection_made(self, transport) -> None:
            if len(self.connections) >= limits.max_connections:
                message = f"the server has {limits.max_connections} connections open, its limit; retry shortly"
                self._refuse(transport, APIError(503, message, code="too_many_connections"))
                return
            self._registered = True
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            if self._refused:
                return
            if self._header_timer is None and (self.cycle is None or self.cycle.response_complete):
                self._arm_header_deadline()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)
            if self._header_timer is not None and self.cycle is not self._cycle_when_armed:
                self._disarm_header_deadline()  # its headers are complete: uvicorn started a new request cycle

        def eof_received(self):
            return False if self._refused else super().eof_received()  # False: the transport closes

        def connection_lost(self, exc) -> None:
            self._disarm_header_deadline()
            if self._registered:
                super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._cycle_when_armed = self.cycle
            self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_late)

        def _disarm_header_deadline(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.cycle is not self._cycle_when_armed or self.transport.is_closing():
                return
            message = f"the request's headers did not arrive within {limits.header_timeout:g} s"
            self._refuse(self.transport, APIError(408, message, code="header_timeout"))

        def _refuse(self, transport: asyncio.Transport, error: APIError) -> None:
            """Answer `error` and close: send the response and a FIN, drop what the client still sends, and close
            once it closes too or after LINGER_SECONDS (closing with unread input would reset the connection, and
            the client could lose the response)."""
            self._refused = True
            transport.write(_response_bytes(error))
            if transport.can_write_eof():
                transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
            limits.on_refused(error.code)

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol


def _response_bytes(error: APIError) -> bytes:
    """`error` as a whole HTTP/1.1 response: the envelope, `Connection: close`."""
    body = json.dumps(error.body()).encode()
    head = (
        f"HTTP/1.1 {error.status} {HTTPStatus(error.status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body
