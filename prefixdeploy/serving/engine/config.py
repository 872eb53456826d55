"""The engine's options: one frozen config, its defaults the single source for `serve`, Ray and Triton."""

from __future__ import annotations

from dataclasses import dataclass

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.lookup import check_prompt_lookup

DEFAULT_MAX_MODEL_LEN = 4096  # slot length when neither the config nor a shorter model context says otherwise


@dataclass(frozen=True, kw_only=True)
class EngineConfig:
    max_num_seqs: int = 8  # rows decoding at once (KV slots)
    max_queue: int = 64  # requests waiting for a slot; one more -> QueueFullError
    max_model_len: int | None = None  # slot length (prefix + prompt + new tokens); None: min(max_context, 4096)
    max_prefill_tokens: int = 128  # prompt tokens per step while rows decode (their stall; docs/performance.md)
    max_prefill_prompts: int = 1  # prompts a step may prefill within that budget, each a forward of its own
    prompt_lookup: int = 0  # K > 0: a greedy row alone in the batch drafts up to K tokens per step (exact at fp32)
    lookup_history: int = 0  # with prompt_lookup: the last N greedy answers per prefix are draft sources too
    prompt_cache: bool = True  # finished rows' tokens stay in free slots; a prompt that starts the same reuses them

    def __post_init__(self):
        for name in ("max_num_seqs", "max_prefill_tokens", "max_prefill_prompts", "max_model_len"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be at least 1, got {value}", name)
        check_prompt_lookup(self.prompt_lookup, "prompt_lookup")
        if self.lookup_history < 0:
            raise ConfigError(f"lookup_history must be ≥ 0 (0: off), got {self.lookup_history}", "lookup_history")
        if self.max_queue < 0:
            raise ConfigError(f"max_queue must be ≥ 0, got {self.max_queue}", "max_queue")


ENGINE_DEFAULTS = EngineConfig()


def slot_length(max_model_len: int | None, max_context: int) -> int:
    """Tokens per KV slot (prefix + prompt + new tokens): `max_model_len`, or the model's context up to 4096."""
    return max_model_len or min(max_context, DEFAULT_MAX_MODEL_LEN)
