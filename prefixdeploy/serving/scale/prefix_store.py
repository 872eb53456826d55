"""A prefix store: a directory of `NAME.safetensors` prefix files, served by name, loaded on a request's first use.

`StorePrefixes` is the registry of a replica that serves the bundle's prefixes plus any number in a store directory
(shared by the replicas). A store prefix is read, and validated as runtime-loaded prefixes are (format, geometry,
room in the slots, finite values of plausible size), by a `load(name)` coroutine the host supplies: on Ray Serve
that is a `@serve.multiplexed` loader, which keeps the replica's most recently used prefixes and tells Ray's router
which replica holds which. A file that fails validation fails only the requests naming it (400); a name with no file
inside the store (a symlink out of it does not count) is a 404. `/v1/models` lists the whole store. The host learns
per request whether the replica already held the prefix (`request_note()`), to measure affinity.
"""

from __future__ import annotations

import contextvars
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.prefix import Prefix, check_prefix_name
from prefixdeploy.serving.http.errors import APIError, bad_request
from prefixdeploy.serving.http.registry import PREFIX_SUFFIX, PrefixRegistry, RuntimeLimits

log = logging.getLogger(__name__)

_NOTE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("prefixdeploy_request_note", default=None)


def request_note() -> dict:
    """A fresh per-request record (call at the request's start); `lookup` writes `held` (bool) into it."""
    note: dict = {}
    _NOTE.set(note)
    return note


class HeldPrefix:
    """A store prefix as a replica holds it; its holder forgets it when the loader evicts it (Ray calls __del__)."""

    def __init__(self, prefix: Prefix, held: dict[str, HeldPrefix]):
        self.prefix, self._held = prefix, held
        held[prefix.name] = self

    def __del__(self):
        if self._held.get(self.prefix.name) is self:  # not a newer load of the same name
            del self._held[self.prefix.name]


class StorePrefixes(PrefixRegistry):
    """The bundle's prefixes first, then the store's, by name (runtime loading through POST /v1/prefixes is off)."""

    def __init__(
        self,
        bundle: Bundle,
        base_id: str,
        store: Path,
        load: Callable[[str], Awaitable[HeldPrefix]],  # reads through `read`, wraps in `HeldPrefix(p, self.held)`
        limits: RuntimeLimits,  # its max_model_len: a store prefix must leave room in the slots
        routed_model: Callable[[], str] = lambda: "",
    ):
        """routed_model(): the model id the router chose this replica for ("" if none was sent)."""
        super().__init__(bundle, base_id, None, limits)
        self.store, self._load, self._routed_model = Path(store), load, routed_model
        self.held: dict[str, HeldPrefix] = {}  # store prefixes in memory, by name

    @property
    def names(self) -> list[str]:
        return sorted({*super().names, *self.held})

    async def lookup(self, model: str) -> Prefix | None:
        routed = self._routed_model()
        if routed and routed != model:
            raise bad_request(f"the request was routed for model {routed!r} but its body names {model!r}", "model")
        note = _NOTE.get()
        try:
            prefix = self.resolve(model)  # the base model and the bundle's prefixes: every replica holds them
            if note is not None and prefix is not None:
                note["held"] = True
            return prefix
        except APIError:
            if not self._in_store(model):
                raise
        if note is not None:
            note["held"] = model in self.held
        return (await self._load(model)).prefix

    def read(self, name: str) -> Prefix:
        """Read and validate the store's file for `name` (blocking; 400 if the file is not a usable prefix)."""
        if not self._in_store(name):
            raise APIError(404, f"no prefix {name!r} in the prefix store", "model", "model_not_found")
        prefix = self._read_valid(self._file(name), name, f"{name}{PREFIX_SUFFIX}")
        log.info("read prefix %r from the store (%d virtual tokens)", name, prefix.num_virtual_tokens)
        return prefix

    def models(self) -> list[dict]:
        listed = super().models()
        served = {m["id"] for m in listed}
        created = listed[0]["created"] if listed else 0
        stored = [self._entry(name, created, self.base_id) for name in self.stored_names() if name not in served]
        return listed + stored

    def stored_names(self) -> list[str]:
        """Every valid prefix name with a file in the store (its files are not opened)."""
        with os.scandir(self.store) as entries:
            stems = [e.name.removesuffix(PREFIX_SUFFIX) for e in entries if e.name.endswith(PREFIX_SUFFIX)]
        return sorted(s for s in stems if self._in_store(s))

    def _in_store(self, name: str) -> bool:
        """A valid name whose file is a regular file inside the store (a symlink out of it is not), as the runtime
        prefix directory of `prefixdeploy serve` has it."""
        if not _valid_name(name):
            return False
        try:
            path = self._file(name).resolve()
            return path.is_relative_to(self.store.resolve()) and path.is_file()
        except (OSError, RuntimeError):  # a symlink loop
            return False

    def _file(self, name: str) -> Path:
        return self.store / f"{name}{PREFIX_SUFFIX}"


def _valid_name(name: str) -> bool:
    try:
        check_prefix_name(name)
    except PrefixDeployError:
        return False
    return True
