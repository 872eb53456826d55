"""Slow and idle clients against a real server (issue 20, item 1): a cap on open connections (one more is 503 and
closed), a deadline for a request's headers and one for its body (408 and closed). Raw sockets on 127.0.0.1; every
wait is bounded by a socket timeout."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
from server_process import KEY, running_server

LIMITS = ("--max-connections", "6", "--header-timeout", "1", "--body-timeout", "1")
HEADERS_START = b"POST /v1/completions HTTP/1.1\r\nHost: test\r\n"  # never finished
WAIT = 10.0  # seconds any one read may take before the test fails


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=WAIT)


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def status_and_error(reply: bytes) -> tuple[int, dict]:
    head, _, body = reply.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)["error"]


def test_unfinished_headers_get_408_and_the_connection_cap_503(served_bundle):
    with running_server(served_bundle, *LIMITS) as server:
        slow = [connect(server.url) for _ in range(6)]
        for sock in slow:
            sock.sendall(HEADERS_START)
        extra = connect(server.url)
        extra.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
        status, error = status_and_error(read_until_closed(extra))
        assert (status, error["code"]) == (503, "too_many_connections")
        started = time.monotonic()
        for sock in slow:
            status, error = status_and_error(read_until_closed(sock))
            assert (status, error["code"]) == (408, "header_timeout")
        assert time.monotonic() - started < 5.0  # 1 s each, all at once
        assert httpx.get(f"{server.url}/health", timeout=WAIT).status_code == 200  # their slots are free again


def test_headers_dripped_byte_by_byte_still_meet_the_deadline(served_bundle):
    with running_server(served_bundle, *LIMITS) as server:
        sock = connect(server.url)
        started, sent = time.monotonic(), 0
        try:
            while time.monotonic() - started < 5.0 and sent < len(HEADERS_START):  # a byte every 0.1 s
                sock.sendall(HEADERS_START[sent : sent + 1])
                sent += 1
                time.sleep(0.1)
        except OSError:  # the server closed it meanwhile
            pass
        status, error = status_and_error(read_until_closed(sock))
        assert (status, error["code"]) == (408, "header_timeout")
        assert time.monotonic() - started < 4.0


def test_a_body_that_stops_arriving_gets_408_and_the_connection_closes(served_bundle):
    with running_server(served_bundle, *LIMITS) as server:
        sock = connect(server.url)
        head = (
            b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + KEY.encode() + b"\r\nContent-Length: 100000\r\n\r\n"
        )
        sock.sendall(head + b'{"model": "summ", "prompt": "')
        started = time.monotonic()
        reply = read_until_closed(sock)
        assert time.monotonic() - started < 5.0
        status, error = status_and_error(reply)
        assert (status, error["code"]) == (408, "body_timeout")
        assert b"connection: close" in reply.lower()
        with server.http() as http:  # the server goes on
            assert http.post("/v1/completions", json={"model": "summ", "prompt": "hi", "max_tokens": 2}).is_success
        assert "Traceback" not in "".join(server.log)


def test_a_keep_alive_connection_serves_several_requests_within_the_deadlines(served_bundle):
    with running_server(served_bundle, *LIMITS) as server, server.http() as http:
        for _ in range(3):  # one connection (httpx keeps it alive), slower than the header deadline in total
            assert http.get("/health").status_code == 200
            time.sleep(0.5)
