"""The served prefixes: the bundle's own plus runtime-loaded ones, by name; the base model's id; loading safely.

Model ids: the base id is the last path component of the manifest's `source_model` (a hub id's name, a model
directory's name, a `.gguf` file's stem), or the bundle directory's name if the manifest has none; `ServeConfig.
served_model_name` overrides it. A prefix's id is its name. An unknown id is a 404 (never a fallback to the base).

Runtime prefixes are bounded (`RuntimeLimits`: how many, how many bytes; 409 beyond) and each must leave room in the
engine's slots. Errors name a file as the client named it, never by the server's path, and never show Python's own
messages.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, check_prefix_name, check_prefix_values, load_prefix
from prefixdeploy.serving.engine.config import slot_length
from prefixdeploy.serving.http.config import ServeConfig
from prefixdeploy.serving.http.errors import APIError, bad_request

log = logging.getLogger(__name__)

PREFIX_SUFFIX = ".safetensors"
HEADER_ALLOWANCE = 1 << 20  # bytes of a prefix file that are not keys and values, at most, for a check before reading


@dataclass(frozen=True)
class RuntimeLimits:
    """What prefixes loaded while serving may take."""

    max_model_len: int  # the engine's slot length: a prefix must leave room for one prompt token and one new token
    max_prefixes: int = 64  # runtime prefixes at once
    max_bytes: int = 1 << 30  # their keys and values together

    @classmethod
    def of(cls, config: ServeConfig, manifest: Manifest) -> RuntimeLimits:
        length = slot_length(config.max_model_len, manifest.max_context)
        return cls(length, config.max_runtime_prefixes, config.max_runtime_prefix_bytes)


@dataclass(frozen=True)
class ServedPrefix:
    prefix: Prefix
    created: int  # unix seconds, for /v1/models
    runtime: bool  # loaded through POST /v1/prefixes (only these can be unloaded)


def base_model_id(bundle: Bundle) -> str:
    source = bundle.manifest.source_model.rstrip("/\\")
    name = re.split(r"[/\\]", source)[-1].removesuffix(".gguf") if source else ""
    return name or bundle.path.resolve().name


class PrefixRegistry:
    def __init__(self, bundle: Bundle, base_id: str, runtime_dir: Path | None, limits: RuntimeLimits):
        self.bundle, self.base_id, self.runtime_dir, self.limits = bundle, base_id, runtime_dir, limits
        self.switchable = bundle.manifest.mode == "switchable"
        now = int(time.time())
        self._served = {name: ServedPrefix(p, now, runtime=False) for name, p in bundle.prefixes.items()}
        self._created = now
        self._lock = asyncio.Lock()  # one load at a time: names are checked and claimed without races
        if base_id in self._served:
            raise PrefixDeployError(f"the base model id {base_id!r} is also a prefix name; choose another")

    @property
    def names(self) -> list[str]:
        return sorted(self._served)

    def resolve(self, model: str) -> Prefix | None:
        """The prefix a request's `model` selects (None: the base model); 404 for anything else."""
        if model == self.base_id and self.switchable:
            return None
        if model in self._served:
            return self._served[model].prefix
        hint = "" if self.switchable else " (this bundle bakes its prefixes in: the base model alone is not served)"
        choices = ([self.base_id] if self.switchable else []) + self.names
        raise APIError(
            404, f"model {model!r} does not exist; served: {', '.join(choices)}{hint}", "model", "model_not_found"
        )

    async def lookup(self, model: str) -> Prefix | None:
        """`resolve` for the routes; a registry that loads prefixes on demand (serving.scale.ray) overrides it."""
        return self.resolve(model)

    def models(self) -> list[dict]:
        """OpenAI model objects: the base model (switchable bundles), then one per prefix with parent = base."""
        base = [self._entry(self.base_id, self._created, None)] if self.switchable else []
        return base + [self._entry(name, s.created, self.base_id) for name, s in sorted(self._served.items())]

    def _entry(self, model_id: str, created: int, parent: str | None) -> dict:
        return {
            "id": model_id,
            "object": "model",
            "created": created,
            "owned_by": "prefixdeploy",
            "root": self.base_id,
            "parent": parent,
        }

    async def load(self, name: str, file: str) -> ServedPrefix:
        """Load `file` (inside the runtime directory) as prefix `name`; fully validated before anyone sees it."""
        if self.runtime_dir is None:
            raise APIError(404, "runtime prefixes are off; start the server with --allow-runtime-prefixes DIR")
        async with self._lock:
            self._check_new_name(name)
            path = self._inside_runtime_dir(file)
            self._check_room(max(path.stat().st_size - HEADER_ALLOWANCE, 0))  # before reading a file too large
            prefix = await asyncio.to_thread(self._read_valid, path, name, file)
            self._check_room(prefix.nbytes)
            served = ServedPrefix(prefix, int(time.time()), runtime=True)
            self._served[name] = served  # one assignment on the event loop: requests see all of it or nothing
        log.info("loaded prefix %r from %s (%d virtual tokens)", name, path.name, prefix.num_virtual_tokens)
        return served

    def unload(self, name: str) -> None:
        """Stop serving a runtime-loaded prefix; requests already running keep their reference and finish."""
        if self.runtime_dir is None:
            raise APIError(404, "runtime prefixes are off; start the server with --allow-runtime-prefixes DIR")
        served = self._served.get(name)
        if served is None:
            raise APIError(404, f"prefix {name!r} is not loaded", "name", "model_not_found")
        if not served.runtime:
            raise bad_request(f"prefix {name!r} is part of the bundle; only runtime-loaded prefixes unload", "name")
        del self._served[name]
        log.info("unloaded prefix %r", name)

    def _check_room(self, nbytes: int) -> None:
        """409 unless one more runtime prefix of `nbytes` fits the limits."""
        held = [s.prefix for s in self._served.values() if s.runtime]
        limits, used = self.limits, sum(p.nbytes for p in held)
        if len(held) >= limits.max_prefixes:
            raise APIError(
                409,
                f"the server holds {len(held)} runtime prefixes, its limit (max_runtime_prefixes); unload one first",
                code="runtime_prefix_limit",
            )
        if used + nbytes > limits.max_bytes:
            raise APIError(
                409,
                f"the runtime prefixes hold {used} bytes; {nbytes} more would pass the limit of {limits.max_bytes} "
                "bytes (max_runtime_prefix_bytes); unload one first",
                code="runtime_prefix_limit",
            )

    def _check_new_name(self, name: str) -> None:
        try:
            check_prefix_name(name)
        except PrefixDeployError as e:
            raise bad_request(str(e), "name") from None
        if name == self.base_id or name in self._served:
            raise bad_request(f"name {name!r} is already served; unload it first or choose another", "name")
        if not self.switchable:
            raise bad_request("this bundle bakes its prefixes in; runtime prefixes need a switchable bundle")

    def _inside_runtime_dir(self, file: str) -> Path:
        root = self.runtime_dir.resolve()
        try:
            path = (root / file).resolve()
            if Path(file).is_absolute() or not path.is_relative_to(root) or path == root:
                raise bad_request(f"file: {file!r} is outside the runtime prefix directory", "file")
            if path.suffix != PREFIX_SUFFIX or not path.is_file():
                raise bad_request(f"file: no {PREFIX_SUFFIX} file {file!r} in the runtime prefix directory", "file")
        except (OSError, ValueError):  # NUL bytes, symlink loops, names too long
            raise bad_request("file: not a usable path (too long, a NUL byte, or a symlink loop)", "file") from None
        return path

    def _read_valid(self, path: Path, name: str, shown: str) -> Prefix:
        manifest = self.bundle.manifest
        label = f"model {self.base_id!r}"
        return read_valid_prefix(path, shown, name, manifest.model, self.limits.max_model_len, label)


def read_valid_prefix(
    path: Path, shown: str, name: str, model: ModelFacts, max_model_len: int, model_label: str
) -> Prefix:
    """Read a prefix file for `model`: format, geometry, room in the slots, values finite and of plausible size.

    Any failure is a 400 that names the file as `shown` (the client's name for it), never by the server's path.
    """
    try:
        prefix = load_prefix(path, name=name)
        prefix.check_fits(model, model_label)
        check_prefix_values(prefix)
    except PrefixDeployError as e:
        reason = str(e).replace(str(path), shown)
        raise bad_request(f"file: {shown} is not a usable prefix: {reason}", "file") from None
    except (ValueError, KeyError, TypeError, OSError) as e:  # Python's own words: for the log, not the client
        log.info("prefix file %s failed to load: %s: %s", path, type(e).__name__, e)
        raise bad_request(
            f"file: {shown} is not a usable prefix: its metadata is malformed (write prefix files with prefixdeploy)",
            "file",
        ) from None
    P = prefix.num_virtual_tokens
    if P + 2 > max_model_len:  # at least one prompt token and one new token must fit after it
        raise bad_request(
            f"file: {shown} has {P} virtual tokens; this server's slots hold {max_model_len} tokens (max_model_len), "
            "leaving no room for a prompt token and a new one",
            "file",
        )
    return prefix
