"""`prefixdeploy serve` as a real subprocess on 127.0.0.1 with an ephemeral port, always killed afterwards; and the
same app in this process over httpx's ASGI transport (for fuzzing and timing-sensitive cases)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-0123"
STARTUP_TIMEOUT = 90.0
URL_RE = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


class ServerProcess:
    def __init__(self, proc: subprocess.Popen, url: str, key: str | None, log: list[str]):
        self.proc, self.url, self.key, self.log = proc, url, key, log

    def client(self, **options) -> openai.OpenAI:
        options = {"max_retries": 0, "timeout": 60.0} | options
        return openai.OpenAI(base_url=f"{self.url}/v1", api_key=self.key or "unused", **options)

    def async_client(self, **options) -> openai.AsyncOpenAI:
        options = {"max_retries": 0, "timeout": 60.0} | options
        return openai.AsyncOpenAI(base_url=f"{self.url}/v1", api_key=self.key or "unused", **options)

    def http(self, auth: bool = True) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.key}"} if auth and self.key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60.0)

    def metric_text(self) -> str:
        with self.http() as http:
            response = http.get("/metrics")
        response.raise_for_status()
        return response.text

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a Prometheus series over the samples carrying `labels` (0 if absent)."""
        text = self.metric_text()
        wanted = [f'{k}="{v}"' for k, v in labels.items()]
        samples = [line for line in text.splitlines() if re.match(rf"{name}(\{{| )", line)]
        return sum(float(line.rsplit(" ", 1)[1]) for line in samples if all(w in line for w in wanted))

    def health_status(self) -> int:
        with self.http(auth=False) as http:
            return http.get("/health").status_code

    def terminate(self, timeout: float = 60.0) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def wait_until(condition, timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll `condition()` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


@contextlib.contextmanager
def running_server(bundle: Path, *args: str, key: str | None = KEY, env: dict | None = None):
    command = [sys.executable, "-m", "prefixdeploy.cli", "serve", str(bundle), "--port", "0", *args]
    environment = {k: v for k, v in os.environ.items() if k != "PREFIXDEPLOY_API_KEY"} | (env or {})
    if key:
        environment["PREFIXDEPLOY_API_KEY"] = key
    proc = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc, lines, log), daemon=True).start()
    try:
        url = _wait_for_url(lines, log)
        _wait_healthy(url)
        yield ServerProcess(proc, url, key, log)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def _pump(proc: subprocess.Popen, lines: queue.Queue, log: list[str]) -> None:
    for line in proc.stdout:
        log.append(line)
        lines.put(line)
    lines.put(None)


def _wait_for_url(lines: queue.Queue, log: list[str]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            break
        if line is None:
            raise RuntimeError("the server exited during startup:\n" + "".join(log))
        if match := URL_RE.search(line):
            return match.group(1)
    raise RuntimeError("the server did not start in time:\n" + "".join(log))


def _wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        time.sleep(0.05)
    raise RuntimeError(f"{url}/health did not turn 200 within {timeout} s")


@contextlib.contextmanager
def app_in_process(bundle: Path, **options):
    """call(method, path, **httpx_kwargs) -> Response against the real app and engine, on one event loop;
    call.run(work) runs `await work(client)` on that loop (for concurrent requests)."""
    from prefixdeploy.serving.http.app import create_app
    from prefixdeploy.serving.http.config import ServeConfig
    from prefixdeploy.serving.http.state import READY, ServerState

    loop = asyncio.new_event_loop()
    state = ServerState(ServeConfig(bundle=bundle, **options))
    loop.run_until_complete(state.start())
    assert state.phase == READY
    transport = httpx.ASGITransport(
        app=create_app(state), raise_app_exceptions=False
    )  # a 500 is a response, as in uvicorn
    client = httpx.AsyncClient(transport=transport, base_url="http://in-process")

    def call(method: str, path: str, **kwargs) -> httpx.Response:
        return loop.run_until_complete(asyncio.wait_for(client.request(method, path, **kwargs), 60))

    call.run = lambda work: loop.run_until_complete(asyncio.wait_for(work(client), 60))  # work(client) -> awaitable
    call.state = state
    try:
        yield call
    finally:
        loop.run_until_complete(client.aclose())
        loop.run_until_complete(state.close())
        loop.close()
