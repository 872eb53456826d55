"""The OpenAI server as a Ray Serve application: one engine per replica, prefix-affine routing, a prefix store.

`serve run prefixdeploy.serving.scale.ray:app_builder bundle=PATH [prefix_store=DIR] [replicas=N] ...` (or a Serve
config YAML naming `app_builder`, or `prefixdeploy serve BUNDLE --ray`). Each replica loads the bundle and starts the
engine in its constructor (so Ray routes to it only once it can answer) and serves the same FastAPI routes as
`prefixdeploy serve` through `@serve.ingress`. Admission is Ray's: `max_ongoing_requests` per replica and
`max_queued_requests` in front of them (over it, Ray's proxy answers 503); the engine's queue is sized never to
refuse what Ray admitted.

Prefix-affine routing: the prefix name is the multiplexed model id. Ray's HTTP proxy chooses the replica before any
replica reads the body, from the `serve_multiplexed_model_id` header alone, so a client sends the prefix name there
as well as in `model` (a request without the header is routed like any other and still served correctly; one whose
header and `model` differ is a 400). Store prefixes load through `@serve.multiplexed`, which keeps each replica's
`max_prefixes_per_replica` most recently used prefixes and reports them to Ray's routers, so requests go to a replica
that holds their prefix and to others when those are busy. Every response names its replica
(`x-prefixdeploy-replica`), whether that replica already held the prefix (`x-prefixdeploy-prefix-held: yes|no`), and
how many store prefixes it holds (`x-prefixdeploy-prefixes-held`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading

from ray import serve
from ray.serve import Application

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.manifest import read_manifest
from prefixdeploy.serving.http.app import create_app
from prefixdeploy.serving.http.registry import PrefixRegistry, RuntimeLimits
from prefixdeploy.serving.http.state import READY, ServerState
from prefixdeploy.serving.scale.prefix_store import HeldPrefix, StorePrefixes, request_note
from prefixdeploy.serving.scale.ray_config import RayServeConfig, from_args

log = logging.getLogger(__name__)

REPLICA_HEADER = "x-prefixdeploy-replica"
HELD_HEADER = "x-prefixdeploy-prefix-held"
COUNT_HEADER = "x-prefixdeploy-prefixes-held"
MODEL_ID_HEADER = "serve_multiplexed_model_id"  # ray.serve._private.constants.SERVE_MULTIPLEXED_MODEL_ID


class ReplicaHeaders:
    """ASGI middleware: adds the replica's name and its prefix facts to every HTTP response's headers."""

    def __init__(self, app, replica: str, state: ServerState):
        self.app, self.replica, self.state = app, replica, state

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        note = request_note()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self._headers(note)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _headers(self, note: dict) -> list[tuple[bytes, bytes]]:
        headers = [(REPLICA_HEADER.encode(), self.replica.encode())]
        if "held" in note:
            headers.append((HELD_HEADER.encode(), b"yes" if note["held"] else b"no"))
        registry = self.state.registry
        if isinstance(registry, StorePrefixes):
            headers.append((COUNT_HEADER.encode(), str(len(registry.held)).encode()))
        return headers


@serve.deployment(name="PrefixDeploy")
@serve.ingress()
class PrefixDeployReplica:
    """One replica: a ServerState (bundle, engine, registry) behind the routes of `create_app`."""

    async def __init__(self, config: RayServeConfig):
        self.config = config
        self.replica = serve.get_replica_context().replica_id.unique_id
        self.fatal: str | None = None
        self.state = ServerState(
            config.serve, address=f"replica {self.replica}", on_fatal=self._fail, make_registry=self._registry
        )
        await self.state.start()  # Ray routes here only after the constructor returns
        if self.state.phase != READY:
            raise PrefixDeployError(self.fatal or "the bundle did not load")

    def __serve_build_asgi_app__(self):
        app = create_app(self.state)
        app.add_middleware(ReplicaHeaders, replica=self.replica, state=self.state)
        return app

    def check_health(self) -> None:
        """Ray's periodic health check: a replica whose engine stopped is replaced."""
        if self.state.engine is None or self.state.engine.draining:
            raise RuntimeError(f"replica {self.replica}: the engine is not running")

    def _fail(self, error: PrefixDeployError) -> None:
        self.fatal = str(error)

    def _registry(self, bundle, base_id: str) -> PrefixRegistry:
        limits = RuntimeLimits.of(self.config.serve, bundle.manifest)
        if self.config.prefix_store is None:
            return PrefixRegistry(bundle, base_id, None, limits)
        registry: StorePrefixes | None = None

        async def load_prefix(name: str) -> HeldPrefix:
            prefix = await asyncio.to_thread(registry.read, name)
            return HeldPrefix(prefix, registry.held)

        load = serve.multiplexed(max_num_models_per_replica=self.config.max_prefixes_per_replica)(load_prefix)
        store = self.config.prefix_store
        registry = StorePrefixes(bundle, base_id, store, load, limits, serve.get_multiplexed_model_id)
        return registry


def build_app(config: RayServeConfig) -> Application:
    """The Serve application for `config` (checks the bundle's manifest first: the commonest mistakes fail here)."""
    manifest = read_manifest(config.serve.bundle)
    if config.prefix_store is not None and manifest.mode != "switchable":
        raise ConfigError("prefix_store needs a switchable bundle; this one bakes its prefixes in", "prefix_store")
    return PrefixDeployReplica.options(**config.deployment_options()).bind(config)


def app_builder(args: dict) -> Application:
    """Ray's application builder: `serve run prefixdeploy.serving.scale.ray:app_builder bundle=PATH key=value ...`."""
    return build_app(from_args(args))


def run_until_signal(config: RayServeConfig, address: str | None) -> None:
    """`prefixdeploy serve --ray`: start Ray here (or join `address`), run the app on Ray's HTTP proxy at the
    config's host and port, and serve until SIGINT/SIGTERM; then delete the app (and stop the Ray we started)."""
    import ray

    app = build_app(config)  # a bad bundle fails before Ray starts
    log.setLevel(logging.INFO)  # the startup line shows without -v, as `prefixdeploy serve`'s does
    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False)
    stop = _stop_on_signal()  # after ray.init, which installs its own SIGTERM handler; before the slow start
    try:
        host, port = config.serve.host, config.serve.port or _free_port(config.serve.host)
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, name=config.app_name, route_prefix="/")
        shown = f"[{host}]" if ":" in host else host
        log.info("prefixdeploy serve --ray: listening on http://%s:%d (Ray Serve app %r)", shown, port, config.app_name)
        while not stop.wait(1.0):
            pass
    finally:
        with contextlib.suppress(Exception):
            serve.delete(config.app_name) if address else serve.shutdown()
        ray.shutdown()


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _free_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
