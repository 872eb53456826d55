"""`prefixdeploy run`: one prompt through a bundle with a chosen prefix, streamed. Must not import torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.bundle import Bundle, Generation, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.prefix import Prefix


@dataclass(frozen=True)
class RunConfig:
    bundle: Path
    prompt: str
    _: KW_ONLY  # the options below are passed by name
    prefix: str | None = None  # None: the bundle's only prefix
    no_prefix: bool = False  # run the bare model (switchable bundles)
    chat: bool = False  # wrap the prompt in the model's chat template
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    backend: str = "ort"
    precision: str | None = None  # which of the bundle's graphs (None: the first the backend runs)
    provider: str = "cpu"  # ONNX Runtime execution provider: cpu | cuda | tensorrt

    def __post_init__(self):
        if self.no_prefix and self.prefix:
            raise ConfigError("give either prefix or no_prefix, not both", "prefix", "no_prefix")


def choose_prefix(bundle: Bundle, name: str | None, no_prefix: bool) -> Prefix | None:
    """The prefix `run` applies, resolved once: `name`, none (`no_prefix`), or the bundle's only one."""
    if no_prefix:
        if bundle.manifest.mode == "baked":
            raise ConfigError("no_prefix needs a switchable bundle; this one bakes its prefixes in", "no_prefix")
        return None
    if name is None:
        if len(bundle.prefix_names) != 1:
            listing = ", ".join(sorted(bundle.prefix_names)) or "(none)"
            raise ConfigError(f"choose one of this bundle's prefixes with prefix: {listing}", "prefix")
        name = bundle.prefix_names[0]
    return bundle.resolve(name)  # unknown names fail here, listing the available ones


def run_prompt(config: RunConfig, on_text: Callable[[str], None] | None = None) -> Generation:
    """Generate for one prompt; `on_text` receives decoded text pieces as tokens arrive."""
    with load_bundle(
        config.bundle, backend=config.backend, precision=config.precision, provider=config.provider
    ) as bundle:
        prefix = choose_prefix(bundle, config.prefix, config.no_prefix)
        prompt_ids = bundle.encode(config.prompt, chat=config.chat, prefix=prefix)
        tokens: list[int] = []
        pieces = bundle.codec.stream_text(_collect(bundle.stream_ids(prompt_ids, prefix, config.generation), tokens))
        for piece in pieces:
            if on_text:
                on_text(piece)
        return Generation(prefix.name if prefix else None, prompt_ids, tokens, bundle.codec.decode(tokens))


def _collect(ids, into: list[int]):
    for token in ids:
        into.append(token)
        yield token
