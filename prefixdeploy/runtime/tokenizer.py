"""Text <-> token ids with the `tokenizers` library, plus the bundle's pre-rendered chat wrapper. No torch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer
from tokenizers.decoders import DecodeStream

from prefixdeploy.errors import PrefixDeployError


class TextCodec:
    def __init__(self, path: str | Path, chat_prompt: tuple[str, str] | None):
        self.tokenizer = Tokenizer.from_file(str(path))
        self.chat_prompt = chat_prompt

    def encode(self, text: str, chat: bool = False) -> list[int]:
        """Plain text encodes like HF's `tokenizer(text)`; chat like `apply_chat_template(...,
        add_generation_prompt=True)` for one user message."""
        if not chat:
            return self.tokenizer.encode(text, add_special_tokens=True).ids
        if self.chat_prompt is None:
            raise PrefixDeployError("this bundle's model has no chat template; run without --chat")
        before, after = self.chat_prompt
        return self.tokenizer.encode(before + text + after, add_special_tokens=False).ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def stream_text(self, ids: Iterable[int]) -> Iterator[str]:
        """Decode token by token, yielding text pieces as soon as they are complete characters."""
        stream = DecodeStream(skip_special_tokens=True)
        for token in ids:
            piece = stream.step(self.tokenizer, int(token))
            if piece:
                yield piece
