"""Completions' `prompt` (a string, strings, token ids, or lists of token ids) -> one token-id list per choice.

Text encodes as `prefixdeploy run` encodes it (special tokens added, unless the prefix ends with text). What cannot
fit is refused before any work (`PromptLimits`): a list of more ids than the context, a text of more characters
than the context's tokens can stand for. Tokenizing runs in a worker thread and releases the GIL
(`TextCodec`), so a long prompt never stalls the event loop.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.prefix import VIRTUAL, Prefix
from prefixdeploy.serving.engine.requests import out_of_vocabulary
from prefixdeploy.serving.http.config import MAX_PROMPTS
from prefixdeploy.serving.http.errors import bad_request
from prefixdeploy.serving.http.protocol import Prompt

CONTEXT_CODE = "context_length_exceeded"


@dataclass(frozen=True)
class PromptLimits:
    """What cannot fit, known before tokenizing: more ids than `max_tokens`, or more characters than `max_chars`."""

    max_tokens: int  # the engine's slot length (prefix + prompt + new tokens)
    chars_per_token: int  # the most characters one token stands for (`TextCodec.max_token_chars`)

    @property
    def max_chars(self) -> int:
        return self.max_tokens * self.chars_per_token

    def check_text(self, chars: int, param: str) -> None:
        if chars > self.max_chars:
            raise bad_request(
                f"{param}: {chars} characters cannot fit the context of {self.max_tokens} tokens (one token stands "
                f"for at most {self.chars_per_token} characters here, so at most {self.max_chars} characters); "
                "shorten it",
                param,
                CONTEXT_CODE,
            )

    def check_ids(self, count: int, param: str) -> None:
        if count > self.max_tokens:
            raise bad_request(
                f"{param}: {count} tokens exceeds the context of {self.max_tokens} tokens; shorten it",
                param,
                CONTEXT_CODE,
            )


async def completion_prompts(
    prompt: Prompt, bundle: Bundle, prefix: Prefix | None, limits: PromptLimits
) -> list[list[int]]:
    items = [prompt] if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)) else list(prompt)
    if not items:
        raise bad_request("prompt: is empty", "prompt")
    if len(items) > MAX_PROMPTS:
        raise bad_request(f"prompt: at most {MAX_PROMPTS} prompts per request, got {len(items)}", "prompt")
    for item in items:
        if len(item) == 0:
            raise bad_request("prompt: is empty; give at least one character or token", "prompt")
        (limits.check_text if isinstance(item, str) else limits.check_ids)(len(item), "prompt")
    texts = [item for item in items if isinstance(item, str)]
    after = prefix.ends_with if prefix is not None else VIRTUAL  # after a text prefix, the prompt continues it
    encoded = iter(await asyncio.to_thread(lambda: [bundle.codec.encode(t, after=after) for t in texts]))
    prompts = [next(encoded) if isinstance(item, str) else list(item) for item in items]
    vocab = bundle.manifest.vocab_size
    for ids in prompts:
        if not ids:
            raise bad_request("prompt: encodes to no tokens", "prompt")
        bad = out_of_vocabulary(ids, vocab)
        if bad is not None:
            raise bad_request(f"prompt: token id {bad} is outside the vocabulary [0, {vocab})", "prompt")
    return prompts


def echo_texts(prompt: Prompt, prompts: list[list[int]], codec) -> list[str]:
    """What `echo` returns before each prompt's output (vLLM's): a text prompt as sent, token ids decoded."""
    items = [prompt] if isinstance(prompt, str) or isinstance(prompt[0], int) else list(prompt)
    return [item if isinstance(item, str) else codec.decode(ids) for item, ids in zip(items, prompts)]
