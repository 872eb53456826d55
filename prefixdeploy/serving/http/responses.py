"""OpenAI response bodies and stream chunks for completions and chat completions, built from `Piece`s.

Streams are server-sent events: one `data: {json}` per chunk, an optional usage chunk (`choices: []`), then
`data: [DONE]`. An error after the stream started is one `data: {"error": ...}` and the stream ends. No body ever
carries NaN or Infinity (not JSON): a non-finite number is a 500 (`non_finite_output`) instead.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field

from starlette.responses import Response
from tokenizers import Tokenizer

from prefixdeploy.serving.http.errors import APIError
from prefixdeploy.serving.http.generation import Piece, TokenLogprob
from prefixdeploy.serving.http.tools import ToolPlan

DONE = b"data: [DONE]\n\n"


def json_bytes(data: dict) -> bytes:
    """`data` as strict JSON (UTF-8); a NaN or an infinity in it is a handled 500, never invalid JSON."""
    try:
        return json.dumps(data, ensure_ascii=False, allow_nan=False).encode()
    except ValueError:
        message = "the response would carry a non-finite number (NaN or infinity); the model's output overflowed"
        raise APIError(500, message, code="non_finite_output") from None


def json_response(data: dict) -> Response:
    return Response(json_bytes(data), media_type="application/json")


def sse(data: dict) -> bytes:
    return b"data: " + json_bytes(data) + b"\n\n"


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None) -> dict:
    """OpenAI's usage object; with `cached_tokens`, also `prompt_tokens_details` (the prompt tokens the prompt cache
    held, which were not prefilled)."""
    counts = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        counts["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return counts


@dataclass
class _Choice:
    text: str = ""
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str | None = None
    text_offset: int = 0  # completions' logprobs: where the next token's text starts


class ResponseFormat:
    """The shared part: ids, accumulation of pieces into choices, token strings for logprobs."""

    object_name = ""
    chunk_object_name = ""
    id_prefix = ""

    def __init__(
        self, model: str, tokenizer: Tokenizer, prompts: list[list[int]], logprobs: bool, token_ids: bool, n: int = 1
    ):
        """n choices per prompt: choice p·n + i is prompt p's i-th."""
        self.model, self.tokenizer, self.prompts, self.n = model, tokenizer, prompts, n
        self.with_logprobs, self.with_token_ids = logprobs, token_ids
        self.id = f"{self.id_prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.choices = [_Choice() for _ in range(len(prompts) * n)]

    def add(self, piece: Piece) -> None:
        choice = self.choices[piece.index]
        choice.text += piece.text
        choice.token_ids += piece.token_ids
        choice.logprobs += piece.logprobs
        choice.finish_reason = piece.finish_reason or choice.finish_reason

    def body(self, usage_: dict) -> dict:
        choices = [self._final_choice(i, c) for i, c in enumerate(self.choices)]
        return self._envelope(self.object_name, choices) | {"usage": usage_}

    def chunk(self, piece: Piece) -> dict | None:
        """The stream chunk for `piece`; None when nothing is sent for it yet (tool calls leave at the end)."""
        choice = self._chunk_choice(piece)
        return None if choice is None else self._envelope(self.chunk_object_name, [choice])

    def usage_chunk(self, usage_: dict) -> dict:
        return self._envelope(self.chunk_object_name, []) | {"usage": usage_}

    def _envelope(self, obj: str, choices: list[dict]) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model, "choices": choices}

    def _ids(self, index: int, token_ids: list[int]) -> dict:
        if not self.with_token_ids:
            return {}
        return {"prompt_token_ids": self.prompts[index // self.n], "token_ids": token_ids}

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False)

    def _final_choice(self, index: int, choice: _Choice) -> dict:
        raise NotImplementedError

    def _chunk_choice(self, piece: Piece) -> dict | None:
        raise NotImplementedError


class CompletionFormat(ResponseFormat):
    object_name = chunk_object_name = "text_completion"
    id_prefix = "cmpl"

    def _final_choice(self, index: int, choice: _Choice) -> dict:
        logprobs = self._logprobs(_Choice(), choice.logprobs)
        return {
            "index": index,
            "text": choice.text,
            "logprobs": logprobs,
            "finish_reason": choice.finish_reason,
            **self._ids(index, choice.token_ids),
        }

    def _chunk_choice(self, piece: Piece) -> dict:
        logprobs = self._logprobs(self.choices[piece.index], piece.logprobs)
        return {
            "index": piece.index,
            "text": piece.text,
            "logprobs": logprobs,
            "finish_reason": piece.finish_reason,
            **self._ids(piece.index, piece.token_ids),
        }

    def _logprobs(self, state: _Choice, entries: list[TokenLogprob]) -> dict | None:
        """OpenAI's legacy format: tokens, token_logprobs, top_logprobs (token -> logprob), text_offset. An echoed
        prompt's first token has null for both (vLLM's), since nothing before it is scored."""
        if not self.with_logprobs:
            return None
        out = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []}
        for entry in entries:
            token = self.token_text(entry.token_id)
            out["tokens"].append(token)
            out["token_logprobs"].append(entry.logprob)
            top = None if entry.top is None else {self.token_text(t): lp for t, lp in entry.top}
            out["top_logprobs"].append(top)
            out["text_offset"].append(state.text_offset)
            state.text_offset += len(token)
        return out


class ChatFormat(ResponseFormat):
    object_name = "chat.completion"
    chunk_object_name = "chat.completion.chunk"
    id_prefix = "chatcmpl"
    tools: ToolPlan | None = None  # set for a request with tools: the output may hold calls (tools.py)

    def with_tools(self, plan: ToolPlan | None) -> ChatFormat:
        self.tools = plan if plan is not None and plan.mode != "none" else None
        return self

    def role_chunks(self) -> list[dict]:
        """The first chunk of a chat stream opens each choice's assistant message, as OpenAI's does."""
        delta = {"role": "assistant", "content": ""}
        return [
            self._envelope(
                self.chunk_object_name, [{"index": i, "delta": delta, "logprobs": None, "finish_reason": None}]
            )
            for i in range(len(self.choices))
        ]

    def _final_choice(self, index: int, choice: _Choice) -> dict:
        content, calls, reason = self._calls(choice)
        message = {"role": "assistant", "content": content} | ({"tool_calls": calls} if calls else {})
        return {
            "index": index,
            "message": message,
            "logprobs": self._logprobs(choice.logprobs),
            "finish_reason": reason,
            **self._ids(index, choice.token_ids),
        }

    def _calls(self, choice: _Choice) -> tuple[str | None, list[dict], str | None]:
        """(content, tool calls, finish reason) of a finished choice; calls only from an output that ended."""
        if self.tools is None or choice.finish_reason != "stop":
            return choice.text, [], choice.finish_reason
        content, calls = self.tools.parse(choice.text)
        return content, calls, "tool_calls" if calls else choice.finish_reason

    def _chunk_choice(self, piece: Piece) -> dict | None:
        if self.tools is not None:
            return self._tool_chunk_choice(piece)
        delta = {"content": piece.text} if piece.text or piece.finish_reason is None else {}
        return {
            "index": piece.index,
            "delta": delta,
            "logprobs": self._logprobs(piece.logprobs),
            "finish_reason": piece.finish_reason,
            **self._ids(piece.index, piece.token_ids),
        }

    def _tool_chunk_choice(self, piece: Piece) -> dict | None:
        """With tools the output is held back (it may be a call) and leaves with the last chunk: its content, then
        each call as OpenAI streams one (index, id, type, name, arguments)."""
        if piece.finish_reason is None:
            return None
        content, calls, reason = self._calls(self.choices[piece.index])
        delta = ({"content": content} if content else {}) | (
            {"tool_calls": [{"index": i} | call for i, call in enumerate(calls)]} if calls else {}
        )
        return {"index": piece.index, "delta": delta, "logprobs": None, "finish_reason": reason}

    def _logprobs(self, entries: list[TokenLogprob]) -> dict | None:
        if not self.with_logprobs:
            return None
        return {
            "content": [
                self._entry(e.token_id, e.logprob) | {"top_logprobs": [self._entry(t, lp) for t, lp in e.top]}
                for e in entries
            ]
        }

    def _entry(self, token_id: int, logprob: float) -> dict:
        token = self.token_text(token_id)
        return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}
