"""`prefixdeploy serve` options: one frozen config, one field per CLI option, validated on creation.

Imports nothing of the serve extra, so the CLI can build it before that extra is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.lookup import check_prompt_lookup
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS
from prefixdeploy.serving.http.access import AccessKeys, resolve_keys

API_KEY_ENV = "PREFIXDEPLOY_API_KEY"  # inference keys, separated by whitespace
ADMIN_KEY_ENV = "PREFIXDEPLOY_ADMIN_KEY"
MAX_PROMPTS = 16  # prompts in one completions request (each becomes a choice)


@dataclass(frozen=True, kw_only=True)
class ServeConfig:
    bundle: Path
    host: str = "127.0.0.1"  # loopback unless told otherwise
    port: int = 8000  # 0: an ephemeral port (the startup line names it)
    precision: str | None = None  # which of the bundle's graphs (None: its first)
    batch_precision: str | None = None  # another graph for prompts and decode steps of several rows (load_bundle)
    mixed_steps: bool = False  # a prompt chunk and the decode in one forward, where the bundle has a mixed-step graph
    api_keys: tuple[str, ...] = field(default=(), repr=False)  # `Authorization: Bearer KEY`; (): inference is open
    api_key_file: Path | None = None  # more inference keys, one per line ('#' comments)
    admin_keys: tuple[str, ...] = field(default=(), repr=False)  # prefix load/unload, /metrics; (): the api keys
    admin_key_file: Path | None = None  # more admin keys, one per line
    max_num_seqs: int = ENGINE_DEFAULTS.max_num_seqs  # rows decoding at once
    max_queue: int = ENGINE_DEFAULTS.max_queue  # requests waiting for a row; one more is 429
    max_prefill_tokens: int = ENGINE_DEFAULTS.max_prefill_tokens  # prompt tokens per step while rows decode
    max_prefill_prompts: int = ENGINE_DEFAULTS.max_prefill_prompts  # prompts a step may prefill within that budget
    prompt_lookup: int = 0  # K > 0: greedy rows alone in the batch draft up to K tokens per step (exact at fp32)
    lookup_history: int = 0  # with prompt_lookup: the last N greedy answers per prefix are draft sources too
    prompt_cache: bool = ENGINE_DEFAULTS.prompt_cache  # free slots keep finished sequences for later prompts
    prompt_tokens_details: bool = False  # usage.prompt_tokens_details.cached_tokens in every response (vLLM's flag)
    max_model_len: int | None = None  # KV slot length (prefix + prompt + new tokens); None: the engine's default
    max_tokens_limit: int = 2048  # a request's max_tokens above this is 400
    request_timeout: float = 600.0  # seconds from arrival; then the request ends with finish_reason "abort"
    shutdown_timeout: float = 30.0  # on SIGTERM, seconds running requests get to finish
    max_body_bytes: int = 2 * 1024 * 1024  # larger request bodies are 413
    max_connections: int = 1000  # open connections; one more is answered 503 and closed (docs/serving-security.md)
    header_timeout: float = 10.0  # seconds for a request's headers to arrive; then 408 and the connection closes
    body_timeout: float = 30.0  # seconds for a request's body to arrive, once its headers have; then 408, closed
    allow_runtime_prefixes: Path | None = None  # POST/DELETE /v1/prefixes load files from this directory only
    max_runtime_prefixes: int = 64  # prefixes loaded through POST /v1/prefixes at once; one more is 409
    max_runtime_prefix_bytes: int = 1 << 30  # their keys and values together, in bytes; more is 409
    served_model_name: str | None = None  # the base model's id (None: from the manifest's source model)
    provider: str = "cpu"  # ONNX Runtime execution provider (runtime.providers): cpu | cuda | tensorrt
    ui: bool = True  # serve the playground page at / (`--no-ui`: the API alone)
    access: AccessKeys = field(init=False, repr=False, compare=False)  # the keys above, read and checked

    def __post_init__(self):
        _at_least("port", self.port, 0)
        if self.port > 65535:
            raise ConfigError(f"port must be at most 65535, got {self.port}", "port")
        _at_least("max_num_seqs", self.max_num_seqs, 1)
        _at_least("max_queue", self.max_queue, 1)
        _at_least("max_prefill_tokens", self.max_prefill_tokens, 1)
        _at_least("max_prefill_prompts", self.max_prefill_prompts, 1)
        check_prompt_lookup(self.prompt_lookup)
        _at_least("lookup_history", self.lookup_history, 0)
        if self.lookup_history and not self.prompt_lookup:
            raise ConfigError(
                "lookup_history drafts for prompt_lookup; give prompt_lookup K too", "lookup_history", "prompt_lookup"
            )
        _at_least("max_tokens_limit", self.max_tokens_limit, 1)
        _at_least("max_body_bytes", self.max_body_bytes, 1024)
        _at_least("max_connections", self.max_connections, 1)
        if self.max_model_len is not None:
            _at_least("max_model_len", self.max_model_len, 2)
        for name in ("request_timeout", "shutdown_timeout", "header_timeout", "body_timeout"):
            seconds = getattr(self, name)
            if not (math.isfinite(seconds) and seconds > 0):
                raise ConfigError(f"{name} must be a positive number of seconds, got {seconds}", name)
        _at_least("max_runtime_prefixes", self.max_runtime_prefixes, 1)
        _at_least("max_runtime_prefix_bytes", self.max_runtime_prefix_bytes, 1)
        inference = resolve_keys("api_keys", API_KEY_ENV, self.api_keys, self.api_key_file, "api_key_file")
        admin = resolve_keys("admin_keys", ADMIN_KEY_ENV, self.admin_keys, self.admin_key_file, "admin_key_file")
        object.__setattr__(self, "access", AccessKeys(inference, admin))
        if self.served_model_name is not None and not self.served_model_name.strip():
            raise ConfigError("served_model_name is empty", "served_model_name")
        if self.provider == "tensorrt":
            # runtime.providers gives the TensorRT provider the portable graph (standard ONNX ops only); the engine
            # runs the ONNX Runtime graph (in-place KV buffers), so the load would fail after the socket opened.
            raise ConfigError(
                "provider tensorrt cannot serve: TensorRT runs the bundle's portable graph and the serving engine "
                "needs its ONNX Runtime graph (in-place KV cache); use provider cuda with an fp16 graph, or cpu",
                "provider",
            )
        directory = self.allow_runtime_prefixes
        if directory is not None and not Path(directory).is_dir():
            raise ConfigError(f"allow_runtime_prefixes {directory} is not a directory", "allow_runtime_prefixes")


def _at_least(field: str, value: int, least: int) -> None:
    if value < least:
        raise ConfigError(f"{field} must be at least {least}, got {value}", field)
