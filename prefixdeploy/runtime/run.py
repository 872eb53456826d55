"""`prefixdeploy run`: one prompt through a bundle with a chosen prefix, streamed. Must not import torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import Bundle, Generation, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig


@dataclass(frozen=True)
class RunConfig:
    bundle: Path
    prompt: str
    prefix: str | None = None  # None: the bundle's only prefix
    no_prefix: bool = False  # run the bare model (switchable bundles)
    chat: bool = False  # wrap the prompt in the model's chat template
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    backend: str = "ort"
    precision: str | None = None  # which of the bundle's graphs (None: the first the backend runs)

    def __post_init__(self):
        if self.no_prefix and self.prefix:
            raise PrefixDeployError("give either --prefix or --no-prefix, not both")


def choose_prefix(bundle: Bundle, name: str | None, no_prefix: bool) -> str | None:
    if no_prefix:
        if bundle.manifest.mode == "baked":
            raise PrefixDeployError("--no-prefix needs a switchable bundle; this one bakes its prefixes in")
        return None
    if name is None:
        if len(bundle.prefixes) != 1:
            raise PrefixDeployError(f"choose a prefix with --prefix: this bundle has {bundle._names()}")
        return next(iter(bundle.prefixes))
    bundle.resolve(name)  # unknown names fail here, listing the available ones
    return name


def run_prompt(config: RunConfig, on_text: Callable[[str], None] | None = None) -> Generation:
    """Generate for one prompt; `on_text` receives decoded text pieces as tokens arrive."""
    with load_bundle(config.bundle, backend=config.backend, precision=config.precision) as bundle:
        name = choose_prefix(bundle, config.prefix, config.no_prefix)
        prompt_ids = bundle.encode(config.prompt, chat=config.chat, prefix=name)
        tokens: list[int] = []
        pieces = bundle.codec.stream_text(_collect(bundle.stream_ids(prompt_ids, name, config.generation), tokens))
        for piece in pieces:
            if on_text:
                on_text(piece)
        return Generation(name, prompt_ids, tokens, bundle.codec.decode(tokens))


def _collect(ids, into: list[int]):
    for token in ids:
        into.append(token)
        yield token
