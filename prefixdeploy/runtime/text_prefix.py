"""Prefixes made from text: run a bundle's own graph over a text and keep its keys and values. Must not import torch.

A text stored this way (instructions, a system message, few-shot demonstrations) costs nothing per request: the
prefix is the cache the text leaves, of length P_old + T. Generating with it equals generating with the text's ids
placed before the prompt's (after the old prefix, if any), because the text's keys keep the positions they were
computed at and the prompt continues at P_old + T.

Tokenization: the text is encoded as a prompt for the `on` prefix would be (a sequence start gets the tokenizer's
BOS, if it adds one; after a text prefix it continues without one). A prompt for the new prefix then continues the
text (no BOS). With `chat_system` the text is a system message rendered by the chat template up to the end of the
system turn, and chat prompts for the new prefix render the user turn alone. Switchable bundles only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError, ContextLengthError, PrefixDeployError
from prefixdeploy.runtime.atomic import atomic_path
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.runtime.bundle_prefixes import add_prefix
from prefixdeploy.runtime.prefix import SYSTEM_TURN, TEXT, Prefix, check_prefix_name, save_prefix

log = logging.getLogger(__name__)


def prefix_from_text(
    bundle: Bundle, text: str | Sequence[int], *, name: str, on: str | None = None, chat_system: bool = False
) -> Prefix:
    """A new prefix named `name`: the cache of prefix `on` (if any) followed by the cache `text` leaves.

    text: the text, or its token ids exactly as they should run (no tokenization then). chat_system: the text is a
    system message, rendered with the bundle's chat template. Keys and values are float32, each
    (L, H_kv, P_old + T, D), computed with `bundle`'s graph (exact for that graph; close for its other precisions).
    """
    check_prefix_name(name)
    if bundle.manifest.mode != "switchable":
        raise PrefixDeployError("a prefix from text needs a switchable bundle; this one is baked (re-export it)")
    base = bundle.resolve(on)
    if chat_system and base is not None and base.ends_with == SYSTEM_TURN:
        raise PrefixDeployError(f"prefix {base.name!r} already ends with a system message; a chat has only one")
    ids = text_ids(bundle, text, on=on, chat_system=chat_system)
    _check_room(bundle, base, len(ids))
    key, value = bundle.fill_cache(ids, on)  # (L, H_kv, P_old + T, D) each
    ends_with = SYSTEM_TURN if chat_system else _text_ends_with(base)
    origin = f" on {base.name!r}" if base else ""
    source = f"{'system message' if chat_system else 'text'}: {len(ids)} tokens{origin} ({bundle.graph.file})"
    log.info("prefix %r: %s, %d positions", name, source, key.shape[2])
    return Prefix(name=name, key=key, value=value, model=bundle.manifest.model, ends_with=ends_with, source=source)


def text_ids(
    bundle: Bundle, text: str | Sequence[int], *, on: str | None = None, chat_system: bool = False
) -> list[int]:
    """The ids `prefix_from_text` runs: the text encoded as a prompt for `on` would be, or its system turn."""
    if not isinstance(text, str):
        ids = [int(t) for t in text]
        if chat_system:
            raise ConfigError("chat_system renders a message: give its text, not token ids", "chat_system")
        if not ids or not all(0 <= t < bundle.manifest.vocab_size for t in ids):
            raise PrefixDeployError(f"token ids must be a non-empty list of ids in [0, {bundle.manifest.vocab_size})")
        return ids
    if not text.strip():
        raise PrefixDeployError("the text is empty; give the instructions or system message to store")
    if chat_system:
        return bundle.codec.encode_system_turn(text)
    return bundle.encode(text, prefix=on)


def _text_ends_with(on: Prefix | None) -> str:
    """A plain text after a system message still ends the system turn's part of the chat (say, its examples)."""
    return SYSTEM_TURN if on is not None and on.ends_with == SYSTEM_TURN else TEXT


def _check_room(bundle: Bundle, on: Prefix | None, n: int) -> None:
    P, limit = (on.num_virtual_tokens if on else 0), bundle.manifest.max_context
    if P + n + 2 > limit:  # a prompt needs a token, and generation one more
        raise ContextLengthError(
            f"prefix {P} + text {n} tokens = {P + n} leaves no room in the model's context of {limit} for a prompt "
            "and a new token; shorten the text"
        )


@dataclass(frozen=True, kw_only=True)
class TextPrefixConfig:
    """`prefixdeploy prefix-from-text`: its options one to one."""

    bundle: Path
    text: str  # the text file's contents
    name: str
    on: str | None = None  # run the text on top of this prefix of the bundle
    output: Path | None = None  # write the prefix file here
    add: bool = False  # also add it to the bundle on disk
    chat_system: bool = False  # the text is a system message for the bundle's chat template
    precision: str | None = None  # which of the bundle's graphs computes it (None: its first, as `run` uses)

    def __post_init__(self):
        check_prefix_name(self.name)
        if self.output is None and not self.add:
            raise ConfigError("give output, add, or both: where should the new prefix go?", "output", "add")


def make_text_prefix(config: TextPrefixConfig) -> Prefix:
    """Compute the prefix with the bundle's graph, then add it to the bundle and/or write it to `config.output`."""
    with load_bundle(config.bundle, precision=config.precision) as bundle:
        if config.add and config.name in bundle.prefixes:
            raise PrefixDeployError(f"bundle {config.bundle.name} already has a prefix named {config.name!r}")
        prefix = prefix_from_text(bundle, config.text, name=config.name, on=config.on, chat_system=config.chat_system)
    if config.add:
        add_prefix(config.bundle, prefix)
    if config.output is not None:
        try:
            with atomic_path(Path(config.output)) as tmp:
                save_prefix(prefix, tmp)
        except OSError as e:
            raise PrefixDeployError(f"cannot write {config.output}: {e.strerror or e}") from None
    return prefix
