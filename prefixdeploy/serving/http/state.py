"""The server's life: load the bundle (health 503 meanwhile), start the engine, serve, drain on SIGTERM, close.

Loading runs in a thread after the socket is listening, so `/health` answers 503 "loading" until the bundle is ready.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.serving.engine.engine import Engine, EngineConfig
from prefixdeploy.serving.http.chat import ChatTemplate
from prefixdeploy.serving.http.config import ServeConfig
from prefixdeploy.serving.http.errors import APIError
from prefixdeploy.serving.http.metrics import ServerMetrics
from prefixdeploy.serving.http.prompts import PromptLimits
from prefixdeploy.serving.http.registry import PrefixRegistry, RuntimeLimits, base_model_id

log = logging.getLogger(__name__)

LOADING, READY, DRAINING = "loading", "ready", "draining"


class ServerState:
    def __init__(
        self,
        config: ServeConfig,
        address: str = "",
        on_fatal: Callable[[PrefixDeployError], None] | None = None,
        make_registry: Callable[[Bundle, str], PrefixRegistry] | None = None,
    ):
        """make_registry(bundle, base_id): the prefixes to serve (default: the bundle's, and runtime-loaded ones)."""
        self.config, self.address, self.on_fatal = config, address, on_fatal
        self.make_registry = make_registry or (
            lambda bundle, base: PrefixRegistry(
                bundle, base, config.allow_runtime_prefixes, RuntimeLimits.of(config, bundle.manifest)
            )
        )
        # With lookup history, the lookup counters tell one client about another's answers: admins only (item 3)
        admin = bool(config.access.admin)
        self.metrics = ServerMetrics(
            lookup_counters=not config.lookup_history or admin, cache_counter=not config.prompt_cache or admin
        )
        self.phase = LOADING
        self.bundle: Bundle | None = None
        self.registry: PrefixRegistry | None = None
        self.engine: Engine | None = None
        self.chat: ChatTemplate | None = None
        self.prompt_limits: PromptLimits | None = None
        self.active = 0  # HTTP requests being answered (the drain waits for their last bytes)

    async def start(self) -> None:
        """Load in a thread, then start the engine; a bad bundle ends the server through `on_fatal`. Idempotent."""
        if self.phase != LOADING:  # Ray Serve starts it in the replica's constructor, before the app's lifespan
            return
        try:
            await asyncio.to_thread(self._load)
        except PrefixDeployError as e:
            if self.on_fatal:
                self.on_fatal(e)  # the error itself: the CLI spells the config fields it names as flags
            return
        self.engine.start()
        self.phase = READY
        log.info("%s", self.startup_line())

    def _load(self) -> None:
        config = self.config
        self.bundle = load_bundle(
            config.bundle,
            precision=config.precision,
            provider=config.provider,
            batch_precision=config.batch_precision,
            mixed_steps=config.mixed_steps,
        )
        base_id = config.served_model_name or base_model_id(self.bundle)
        self.registry = self.make_registry(self.bundle, base_id)
        engine_config = EngineConfig(
            max_num_seqs=config.max_num_seqs,
            max_queue=config.max_queue,
            max_prefill_tokens=config.max_prefill_tokens,
            max_prefill_prompts=config.max_prefill_prompts,
            prompt_lookup=config.prompt_lookup,
            lookup_history=config.lookup_history,
            max_model_len=config.max_model_len,
            prompt_cache=config.prompt_cache,
        )
        self.engine = Engine(self.bundle, engine_config, on_step=self.metrics.on_step)
        self.prompt_limits = PromptLimits(self.engine.max_model_len, self.bundle.codec.max_token_chars)
        self.chat = ChatTemplate(self.bundle.manifest, self.bundle.codec, self.prompt_limits)
        self.metrics.track(
            running=lambda: self.engine.running,
            waiting=lambda: self.engine.waiting,
            prefixes=lambda: len(self.registry.names),
        )

    def startup_line(self) -> str:
        graph, batch = self.bundle.graph, self.bundle.batch_graph
        prefixes = ", ".join(self.registry.names) or "none"
        batches = f"; batches: {batch.file} {batch.weights}" if batch else ""
        batches += f"; mixed steps: {self.bundle.mixed_graph}" if self.bundle.mixed_graph else ""
        return (
            f"prefixdeploy serve: listening on {self.address}; model {self.registry.base_id!r} "
            f"({self.bundle.manifest.mode}, {graph.file} {graph.weights}{batches}); prefixes: {prefixes}"
        )

    def require_ready(self) -> None:
        if self.phase == LOADING:
            raise APIError(503, "the server is still loading the bundle; retry shortly", code="loading")
        if self.phase == DRAINING:
            raise APIError(503, "the server is shutting down; send the request elsewhere", code="draining")

    async def drain(self, timeout: float, grace: float = 5.0) -> None:
        """SIGTERM: refuse new work, let running requests finish within `timeout` (the rest abort), flush replies."""
        if self.phase == LOADING:
            return
        self.phase = DRAINING
        log.info("draining: %d running, %d waiting; up to %.1f s", self.engine.running, self.engine.waiting, timeout)
        await self._shutdown_engine(timeout)
        for _ in range(int(grace / 0.05)):  # aborted requests still send their last chunk
            if self.active == 0:
                break
            await asyncio.sleep(0.05)

    async def _shutdown_engine(self, timeout: float) -> None:
        if inspect.iscoroutinefunction(self.engine.shutdown):
            await self.engine.shutdown(timeout)
        else:
            await asyncio.to_thread(self.engine.shutdown, timeout)

    async def close(self) -> None:
        if self.engine is not None and not self.engine.draining:
            await self._shutdown_engine(0.0)
        if self.bundle is not None:
            self.bundle.close()
