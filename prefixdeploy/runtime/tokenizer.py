"""Text <-> token ids with the `tokenizers` library, plus the bundle's pre-rendered chat wrapper. No torch.

Encoding goes through `Tokenizer.encode_batch`, which releases the GIL while it works (`encode` holds it): a long
text tokenized in a worker thread then leaves the caller's other threads (a server's event loop) running.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.decoders import DecodeStream

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.prefix import SYSTEM_TURN, VIRTUAL


class TextCodec:
    def __init__(
        self,
        path: str | Path,
        chat_prompt: tuple[str, str] | None,
        chat_system: tuple[str, str, str, str] | None = None,
    ):
        self.tokenizer = Tokenizer.from_file(str(path))
        self.chat_prompt = chat_prompt
        self.chat_system = chat_system  # see `Manifest.chat_system`

    def encode(self, text: str, chat: bool = False, after: str = VIRTUAL) -> list[int]:
        """Plain text encodes like HF's `tokenizer(text)`; chat like `apply_chat_template(...,
        add_generation_prompt=True)` for one user message.

        after: what the prompt's prefix ends with (`prefix.ENDS_WITH`). After learned virtual tokens a prompt starts
        a sequence; after a text it continues that text, so the tokenizer adds no special tokens (no second BOS);
        after a system turn a chat prompt is only the rest of the conversation (the user turn and the reply's start).
        """
        if not chat:
            return self.encode_raw(text, add_special_tokens=after == VIRTUAL)
        if after == SYSTEM_TURN:
            _, _, before, end = self._system_split()
        elif self.chat_prompt is None:
            raise ConfigError("this bundle's model has no chat template; run without chat", "chat")
        else:
            before, end = self.chat_prompt
        return self.encode_raw(before + text + end, add_special_tokens=False)

    def encode_raw(self, text: str, add_special_tokens: bool) -> list[int]:
        """`tokenizer.encode(text, add_special_tokens).ids`, without holding the GIL meanwhile."""
        return self.tokenizer.encode_batch([text], add_special_tokens=add_special_tokens)[0].ids

    @cached_property
    def max_token_chars(self) -> int:
        """The most characters of text one token can stand for: its vocabulary's longest entry (added tokens
        included). Byte-level entries spell one byte per character and a character is at least one byte, so this
        bounds them too; a text of more than n × this many characters encodes to more than n tokens (unless the
        tokenizer's normalizer deletes characters)."""
        return max(len(token) for token in self.tokenizer.get_vocab(with_added_tokens=True))

    def encode_system_turn(self, system: str) -> list[int]:
        """A system message as the chat template renders it before the first user turn, up to where that turn ends.

        These ids followed by `encode(user, chat=True, after=SYSTEM_TURN)` are the whole conversation
        [system, user] as `apply_chat_template(..., add_generation_prompt=True)` tokenizes it (the exporter checks
        that the split falls on a token boundary before it records it).
        """
        before, after, _, _ = self._system_split()
        return self.encode_raw(before + system + after, add_special_tokens=False)

    def _system_split(self) -> tuple[str, str, str, str]:
        if self.chat_system is None:
            raise PrefixDeployError(
                "this bundle records no system-message split of a chat template (the model has no template with a "
                "system role, or the bundle was exported before prefixdeploy recorded it); re-export the bundle, "
                "or store the system message as plain text"
            )
        return self.chat_system

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def stream_text(self, ids: Iterable[int]) -> Iterator[str]:
        """Decode token by token, yielding text pieces as soon as they are complete characters."""
        stream = DecodeStream(skip_special_tokens=True)
        for token in ids:
            piece = stream.step(self.tokenizer, int(token))
            if piece:
                yield piece
