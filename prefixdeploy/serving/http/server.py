"""`prefixdeploy serve`: bind the socket, run the app under uvicorn, drain on SIGTERM, and exit 0.

SIGTERM (or Ctrl-C) starts a drain: `/health` and new requests answer 503, running requests get
`--shutdown-timeout` seconds to finish, the rest end with finish_reason "abort", then the process exits 0. A second
signal exits at once.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.manifest import read_manifest
from prefixdeploy.serving.http.app import create_app
from prefixdeploy.serving.http.config import ADMIN_KEY_ENV, API_KEY_ENV, ServeConfig
from prefixdeploy.serving.http.connections import ConnectionLimits, guarded_protocol
from prefixdeploy.serving.http.state import ServerState

log = logging.getLogger(__name__)
ANNOUNCING = ("prefixdeploy.serving.http.state", "prefixdeploy.serving.http.registry")


class _DrainingServer(uvicorn.Server):
    """uvicorn's server, but a signal drains the engine first and never re-raises the signal (exit code 0)."""

    def __init__(self, config: uvicorn.Config, state: ServerState):
        super().__init__(config)
        self.state = state
        self.loop: asyncio.AbstractEventLoop | None = None
        self.drain_started = False

    async def serve(self, sockets=None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame) -> None:
        if self.drain_started or self.loop is None:
            self.should_exit = self.force_exit = True
            return
        self.drain_started = True
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        await self.state.drain(self.state.config.shutdown_timeout)
        self.should_exit = True


def serve(config: ServeConfig) -> None:
    """Serve until a signal, then drain and return; a bundle that cannot load raises PrefixDeployError."""
    read_manifest(config.bundle)  # the commonest mistakes fail before the socket opens
    for warning in security_warnings(config):
        log.warning("%s", warning)
    for name in ANNOUNCING:  # the startup line (and prefix loads, drains) show without -v
        logging.getLogger(name).setLevel(logging.INFO)
    sock = _bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    fatal: list[PrefixDeployError] = []
    state = ServerState(config, address=f"http://{shown_host}:{port}")
    uv_config = uvicorn.Config(
        create_app(state),
        http=_protocol(state),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = _DrainingServer(uv_config, state)
    state.on_fatal = lambda error: (fatal.append(error), setattr(server, "should_exit", True))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    if fatal:
        raise fatal[0]


def security_warnings(config: ServeConfig) -> list[str]:
    """What the configuration leaves open that an operator may not mean to (logged at startup)."""
    warnings, access = [], config.access
    if not _loopback(config.host) and not access.inference:
        warnings.append(
            f"serving on {config.host} without an inference key: anyone who reaches it may generate; give "
            f"--api-key (or {API_KEY_ENV})"
        )
    if config.allow_runtime_prefixes is not None and not access.admin:
        who = "every inference key" if access.inference else "anyone who reaches the server"
        warnings.append(
            f"--allow-runtime-prefixes without an admin key: {who} may load and unload prefixes; give --admin-key "
            f"(or {ADMIN_KEY_ENV})"
        )
    return warnings


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def _protocol(state: ServerState) -> type:
    """uvicorn's HTTP protocol with the connection cap and the header deadline (serving.http.connections)."""
    config = state.config
    limits = ConnectionLimits(
        config.max_connections, config.header_timeout, lambda reason: state.metrics.rejected.labels(reason).inc()
    )
    return guarded_protocol(AutoHTTPProtocol, limits)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror}; choose another host or port", "host", "port"
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock
