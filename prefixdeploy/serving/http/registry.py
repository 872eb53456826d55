"""The served prefixes: the bundle's own plus runtime-loaded ones, by name; the base model's id; loading safely.

Model ids: the base id is the last path component of the manifest's `source_model` (a hub id's name, a model
directory's name, a `.gguf` file's stem), or the bundle directory's name if the manifest has none; `ServeConfig.
served_model_name` overrides it. A prefix's id is its name. An unknown id is a 404 (never a fallback to the base).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, check_prefix_name, load_prefix
from prefixdeploy.serving.http.errors import APIError, bad_request

log = logging.getLogger(__name__)

PREFIX_SUFFIX = ".safetensors"


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
    def __init__(self, bundle: Bundle, base_id: str, runtime_dir: Path | None):
        self.bundle, self.base_id, self.runtime_dir = bundle, base_id, runtime_dir
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
            prefix = await asyncio.to_thread(self._read_valid, path, name)
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
        except (OSError, ValueError) as e:  # NUL bytes, symlink loops
            raise bad_request(f"file: not a usable path ({e})", "file") from None
        if Path(file).is_absolute() or not path.is_relative_to(root) or path == root:
            raise bad_request(f"file: {file!r} is outside the runtime prefix directory", "file")
        if path.suffix != PREFIX_SUFFIX or not path.is_file():
            raise bad_request(f"file: no {PREFIX_SUFFIX} file {file!r} in the runtime prefix directory", "file")
        return path

    def _read_valid(self, path: Path, name: str) -> Prefix:
        manifest = self.bundle.manifest
        return read_valid_prefix(path, name, manifest.model, manifest.max_context, f"model {self.base_id!r}")


def read_valid_prefix(path: Path, name: str, model: ModelFacts, max_context: int, model_label: str) -> Prefix:
    """Read a prefix file for `model`: format, geometry, room in the context, finite values; any failure is a 400."""
    try:
        prefix = load_prefix(path, name=name)
        prefix.check_fits(model, model_label)
    except (PrefixDeployError, ValueError, KeyError, TypeError, OSError) as e:  # malformed metadata too
        raise bad_request(f"file: {path.name} is not a usable prefix: {e}", "file") from None
    if prefix.num_virtual_tokens >= max_context:
        raise bad_request(
            f"file: prefix has {prefix.num_virtual_tokens} virtual tokens; the model's context is "
            f"{max_context}, leaving no room for a prompt",
            "file",
        )
    if not (np.isfinite(prefix.key).all() and np.isfinite(prefix.value).all()):
        raise bad_request(f"file: {path.name} holds NaN or infinite values", "file")
    return prefix
