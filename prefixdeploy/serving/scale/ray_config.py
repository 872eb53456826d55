"""Options of the Ray Serve application: the server's own (`ServeConfig`) plus replicas, limits and the prefix store.

Imports only the standard library and `config`, so the CLI and `app_builder` validate options before Ray imports.
`from_args` turns Ray's `serve run module:app_builder key=value ...` arguments (strings) or a Serve config YAML's
`args:` mapping into this config, with the same names as the CLI options (`-` or `_`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.serving.http.config import MAX_PROMPTS, ServeConfig, _at_least


@dataclass(frozen=True, kw_only=True)
class RayServeConfig:
    serve: ServeConfig  # the bundle, the HTTP address of Ray's proxy, and the per-replica engine's options
    replicas: int | None = None  # a fixed number of replicas (None: 1 unless min/max are given)
    min_replicas: int | None = None  # autoscaling on ongoing requests, between these two
    max_replicas: int | None = None
    max_ongoing_requests: int = 8  # requests a replica runs at once (Ray's limit; the engine's queue is sized from it)
    max_queued_requests: int = 64  # requests waiting for a replica; more get 503 from Ray's proxy (-1: no limit)
    prefix_store: Path | None = None  # a directory of NAME.safetensors prefixes, shared by the replicas
    max_prefixes_per_replica: int = 64  # store prefixes one replica keeps in memory (least recently used out)
    cpus_per_replica: float = 1.0  # Ray resources a replica reserves
    app_name: str = "prefixdeploy"

    def __post_init__(self):
        if self.replicas is not None and (self.min_replicas is not None or self.max_replicas is not None):
            raise ConfigError(
                "give replicas N, or min_replicas A and max_replicas B, not both",
                "replicas",
                "min_replicas",
                "max_replicas",
            )
        if (self.min_replicas is None) != (self.max_replicas is None):
            raise ConfigError("autoscaling needs both min_replicas and max_replicas", "min_replicas", "max_replicas")
        for name, least in (("replicas", 1), ("min_replicas", 0), ("max_replicas", 1)):
            if getattr(self, name) is not None:
                _at_least(name, getattr(self, name), least)
        if self.min_replicas is not None and self.max_replicas < self.min_replicas:
            raise ConfigError(
                f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}",
                "max_replicas",
                "min_replicas",
            )
        _at_least("max_ongoing_requests", self.max_ongoing_requests, 1)
        _at_least("max_queued_requests", self.max_queued_requests, -1)
        _at_least("max_prefixes_per_replica", self.max_prefixes_per_replica, 1)
        if not self.cpus_per_replica > 0:
            raise ConfigError(f"cpus_per_replica must be positive, got {self.cpus_per_replica}", "cpus_per_replica")
        if self.prefix_store is not None and not Path(self.prefix_store).is_dir():
            raise ConfigError(f"prefix_store {self.prefix_store} is not a directory", "prefix_store")
        if self.serve.allow_runtime_prefixes is not None:
            raise ConfigError(
                "allow_runtime_prefixes loads into one process; on Ray use prefix_store DIR (every replica reads it)",
                "allow_runtime_prefixes",
                "prefix_store",
            )

    @property
    def engine_queue(self) -> int:
        """The engine's queue never refuses what Ray admitted: every ongoing request with all its prompts."""
        return self.max_ongoing_requests * MAX_PROMPTS

    def deployment_options(self) -> dict:
        """`Deployment.options(...)`: replicas or autoscaling, Ray's request limits, resources."""
        if self.min_replicas is not None:
            scale = {
                "autoscaling_config": {
                    "min_replicas": self.min_replicas,
                    "max_replicas": self.max_replicas,
                    "target_ongoing_requests": max(1, self.max_ongoing_requests // 2),
                }
            }
        else:
            scale = {"num_replicas": self.replicas or 1}
        return scale | {
            "max_ongoing_requests": self.max_ongoing_requests,
            "max_queued_requests": self.max_queued_requests,
            "ray_actor_options": {"num_cpus": self.cpus_per_replica},
        }


def from_args(args: dict) -> RayServeConfig:
    """RayServeConfig from `serve run` arguments (strings) or YAML `args:`; unknown names list the known ones."""
    given = {str(k).replace("-", "_"): v for k, v in args.items()}
    serve_hints = typing.get_type_hints(ServeConfig)
    ray_hints = typing.get_type_hints(RayServeConfig)
    internal = {"serve", "allow_runtime_prefixes", "host", "port", "max_queue", "max_connections", "header_timeout"}
    internal |= {"access", "max_runtime_prefixes", "max_runtime_prefix_bytes"}  # derived, or runtime prefixes only
    known = sorted((set(serve_hints) | set(ray_hints)) - internal)
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise PrefixDeployError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(known)}")
    if "bundle" not in given:
        raise PrefixDeployError("the application needs bundle=PATH (a prefixdeploy bundle directory)")
    serve_fields = {k: _coerce(k, serve_hints[k], v) for k, v in given.items() if k in serve_hints}
    ray_fields = {k: _coerce(k, ray_hints[k], v) for k, v in given.items() if k in ray_hints}
    return with_engine_queue(RayServeConfig(serve=ServeConfig(**serve_fields), **ray_fields))


def with_engine_queue(config: RayServeConfig) -> RayServeConfig:
    """The config with its engine rows and queue following Ray's limit (Ray's proxy is the only queue that refuses)."""
    serve = dataclasses.replace(config.serve, max_queue=config.engine_queue)
    return dataclasses.replace(config, serve=serve)


def _coerce(name: str, hint, value):
    """A `serve run` string (or a YAML value) as the field's type (int, float, str or Path), or None for "none";
    a tuple of strings (keys) from a YAML list or from one string, its items separated by spaces."""
    if typing.get_origin(hint) is tuple:
        return tuple(value.split()) if isinstance(value, str) else tuple(str(v) for v in value or ())
    if value is None or (isinstance(value, str) and value.lower() in ("", "none", "null")):
        if type(None) in typing.get_args(hint):
            return None
        raise PrefixDeployError(f"argument {name} needs a value")
    kinds = [t for t in (typing.get_args(hint) or (hint,)) if t is not type(None)]
    kind = kinds[0]
    if kind is bool:  # bool("false") is True: spell the truth values out
        return _as_bool(name, value)
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise PrefixDeployError(f"argument {name}={value!r} is not a valid {kind.__name__}") from None


def _as_bool(name: str, value) -> bool:
    if isinstance(value, bool):
        return value
    spelled = str(value).strip().lower()
    if spelled in ("true", "1", "yes", "on"):
        return True
    if spelled in ("false", "0", "no", "off"):
        return False
    raise PrefixDeployError(f"argument {name}={value!r} is not a valid bool (true or false)")
