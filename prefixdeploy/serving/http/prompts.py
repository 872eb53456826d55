"""Completions' `prompt` (a string, strings, token ids, or lists of token ids) -> one token-id list per choice.

Text encodes as `prefixdeploy run` encodes it (special tokens added, unless the prefix ends with text). Tokenizing
runs in a worker thread so a long prompt never stalls the event loop.
"""

from __future__ import annotations

import asyncio

from prefixdeploy.runtime.bundle import Bundle
from prefixdeploy.runtime.prefix import VIRTUAL, Prefix
from prefixdeploy.serving.http.config import MAX_PROMPTS
from prefixdeploy.serving.http.errors import bad_request
from prefixdeploy.serving.http.protocol import Prompt


async def completion_prompts(prompt: Prompt, bundle: Bundle, prefix: Prefix | None) -> list[list[int]]:
    items = [prompt] if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)) else list(prompt)
    if not items:
        raise bad_request("prompt: is empty", "prompt")
    if len(items) > MAX_PROMPTS:
        raise bad_request(f"prompt: at most {MAX_PROMPTS} prompts per request, got {len(items)}", "prompt")
    if any(len(item) == 0 for item in items):
        raise bad_request("prompt: is empty; give at least one character or token", "prompt")
    texts = [item for item in items if isinstance(item, str)]
    after = prefix.ends_with if prefix is not None else VIRTUAL  # after a text prefix, the prompt continues it
    encoded = iter(await asyncio.to_thread(lambda: [bundle.codec.encode(t, after=after) for t in texts]))
    prompts = [next(encoded) if isinstance(item, str) else list(item) for item in items]
    vocab = bundle.manifest.vocab_size
    for ids in prompts:
        if not ids:
            raise bad_request("prompt: encodes to no tokens", "prompt")
        if any(not 0 <= t < vocab for t in ids):
            raise bad_request(f"prompt: token ids must be in [0, {vocab})", "prompt")
    return prompts


def echo_texts(prompt: Prompt, prompts: list[list[int]], codec) -> list[str]:
    """What `echo` returns before each prompt's output (vLLM's): a text prompt as sent, token ids decoded."""
    items = [prompt] if isinstance(prompt, str) or isinstance(prompt[0], int) else list(prompt)
    return [item if isinstance(item, str) else codec.decode(ids) for item, ids in zip(items, prompts)]
