"""OpenAI request bodies: parsing, validation and their meaning for the engine (`SamplingParams`, stop strings).

Field semantics follow OpenAI's API: `max_tokens` defaults to 16 and `temperature` to 1.0 (0 is greedy); `n` choices
per prompt (choice i samples with seed + i, vLLM's rule; n > 1 with temperature 0 is refused, as vLLM does);
completions' `echo` returns the prompt first, with its tokens' logprobs when `logprobs` is set (and with `max_tokens`
0 the prompt alone); `suffix` is refused and `best_of` accepted only equal to `n`; unknown fields are ignored. Types
are strict (a string where a number belongs is 400). Extensions, as in vLLM: `top_k`, `min_p`, `ignore_eos`,
`return_token_ids`, `repetition_penalty`, `min_tokens`, `stop_token_ids`, `structured_outputs` and `guided_*`; as in
llama.cpp's server: `cache_prompt` (false: this request prefills its whole prompt, not starting from the prompt
cache); as in vLLM, `cache_salt` (the prompt cache shares a slot only among requests with the same salt). The
reference of every field, with what is refused and the limits: docs/serving.md.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from prefixdeploy.errors import ConfigError
from prefixdeploy.serving.engine.engine import SamplingParams
from prefixdeploy.serving.engine.requests import MAX_LOGPROBS
from prefixdeploy.serving.http.errors import APIError, bad_request

MAX_STOP_STRINGS = 4
MAX_SEED = 2**63 - 1
MAX_CACHE_SALT = 256  # characters; vLLM suggests 43 (256 random bits in base64)
DEFAULT_MAX_TOKENS = 16  # OpenAI's default for completions; used for chat too (the rule)
DEFAULT_TEMPERATURE = 1.0  # OpenAI's default; 0 is greedy

Prompt = str | list[str] | list[int] | list[list[int]]


class _Body(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)


class StreamOptions(_Body):
    include_usage: bool = False


class JsonSchemaFormat(_Body):
    name: str = "response"
    schema_: dict | None = Field(None, alias="schema")  # OpenAI's name; `schema` shadows a pydantic attribute
    strict: bool | None = None  # always enforced: the output follows the schema whether strict or not
    description: str | None = None


class ResponseFormat(_Body):
    """OpenAI's `response_format`: text (no constraint), any JSON object, or a JSON schema."""

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self):
        if self.type == "json_schema" and (self.json_schema is None or self.json_schema.schema_ is None):
            raise ValueError("type json_schema needs json_schema.schema")
        return self


class StructuredOutputs(_Body):
    """vLLM's `structured_outputs`: exactly one of json, regex, choice, grammar, json_object."""

    json_: dict | str | None = Field(None, alias="json")
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None
    structural_tag: str | dict | None = None

    @model_validator(mode="after")
    def _supported(self):
        if self.structural_tag is not None:
            raise ValueError("structural_tag is not supported (use json, regex, choice or grammar)")
        return self


class _Sampling(_Body):
    """Fields that completions and chat share."""

    model: str
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    top_k: Annotated[int, Field(ge=-1)] | None = None  # 0 or -1: off (vLLM accepts both)
    min_p: Annotated[float, Field(ge=0.0, le=1.0)] | None = None  # vLLM's and llama.cpp's; 0: off
    seed: Annotated[int, Field(ge=0, le=MAX_SEED)] | None = None
    stop: str | Annotated[list[Annotated[str, Field(min_length=1)]], Field(max_length=MAX_STOP_STRINGS)] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1)] | None = 1  # choices per prompt (the engine bounds it by its rows)
    presence_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2.0, le=2.0)] | None = None
    repetition_penalty: Annotated[float, Field(gt=0.0, le=10.0)] | None = None  # vLLM's; 1 is off
    logit_bias: dict[str, Annotated[float, Field(ge=-100.0, le=100.0)]] | None = None  # token id (text) -> bias
    min_tokens: Annotated[int, Field(ge=0)] = 0  # vLLM's: no EOS or stop token before this many tokens
    stop_token_ids: Annotated[list[Annotated[int, Field(ge=0)]], Field(max_length=64)] | None = None  # vLLM's
    ignore_eos: bool = False
    return_token_ids: bool = False
    cache_prompt: bool = True  # llama.cpp's: false prefills the whole prompt (logits as a lone full prefill's)
    cache_salt: Annotated[str, Field(min_length=1, max_length=MAX_CACHE_SALT)] | None = None  # vLLM's
    # structured outputs (at most one; structured.py turns them into a runtime Constraint)
    response_format: ResponseFormat | None = None
    structured_outputs: StructuredOutputs | None = None
    guided_json: dict | str | None = None  # vLLM's older names for structured_outputs' fields
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None

    @model_validator(mode="after")
    def _unsupported(self):
        if self.stream_options is not None and not self.stream:
            raise ValueError("stream_options: allowed only with stream=true")
        if self.stop == "":
            raise ValueError("stop: an empty stop string would match everywhere")
        if any(not key.strip().isdigit() for key in self.logit_bias or {}):
            raise ValueError('logit_bias: keys are token ids (as strings, e.g. {"1234": -100})')
        if (self.n or 1) > 1 and self.temperature == 0:  # vLLM's rule: n greedy choices would all be the same
            raise ValueError(f"n: must be 1 with greedy sampling (temperature 0), got {self.n}")
        return self

    @property
    def stop_strings(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class CompletionRequest(_Sampling):
    prompt: Prompt
    max_tokens: Annotated[int, Field(ge=0)] | None = None  # 0 only with echo: the prompt alone (and its logprobs)
    logprobs: Annotated[int, Field(ge=0, le=MAX_LOGPROBS)] | None = None
    echo: bool | None = False
    suffix: str | None = None
    best_of: int | None = None

    @model_validator(mode="after")
    def _completion_only(self):
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens: 0 is allowed only with echo=true (the prompt alone, scored)")
        if self.suffix:
            raise ValueError("suffix: not supported (no fill-in-the-middle)")
        if self.best_of not in (None, self.n or 1):  # no ranking of extra choices: best_of can only be n
            raise ValueError(f"best_of: only best_of = n ({self.n or 1}) is supported, got {self.best_of}")
        return self


class TextPart(_Body):
    type: Literal["text"]
    text: str


class FunctionCall(_Body):
    name: str
    arguments: str  # JSON text, as OpenAI sends it


class ToolCall(_Body):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None  # an assistant's calls
    tool_call_id: str | None = None  # a tool message answers this call

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class Function(_Body):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
    description: str | None = None
    parameters: dict | None = None  # a JSON schema; absent: no arguments ({})
    strict: bool | None = None


class Tool(_Body):
    type: Literal["function"]
    function: Function


class NamedTool(_Body):
    class _Name(_Body):
        name: str

    type: Literal["function"]
    function: _Name


class ChatRequest(_Sampling):
    messages: Annotated[list[Message], Field(min_length=1)]
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedTool | None = None  # default: auto with tools, else none
    parallel_tool_calls: bool | None = None  # required: several calls allowed unless false
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None  # OpenAI's newer name for max_tokens
    logprobs: bool | None = False
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_LOGPROBS)] | None = None

    @model_validator(mode="after")
    def _chat_only(self):
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs: needs logprobs=true")
        names = [t.function.name for t in self.tools or []]
        if len(set(names)) != len(names):
            raise ValueError("tools: two tools have the same name")
        if isinstance(self.tool_choice, NamedTool) and self.tool_choice.function.name not in names:
            raise ValueError(f"tool_choice: no tool named {self.tool_choice.function.name!r} in tools")
        if self.tool_choice in ("auto", "required") and not names:
            raise ValueError(f"tool_choice: {self.tool_choice!r} needs tools")
        return self


class PrefixLoadRequest(_Body):
    name: str  # the prefix's model id from now on
    file: str  # a .safetensors file inside the --allow-runtime-prefixes directory


def parse_body(model: type[_Body], body: bytes):
    """Validate a JSON body into `model`; any problem is a 400 naming the field (`param`)."""
    try:
        return model.model_validate_json(body)
    except ValidationError as e:
        raise _as_bad_request(e) from None


def _as_bad_request(error: ValidationError) -> APIError:
    first = error.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return bad_request(f"the body is not valid JSON (UTF-8): {first['msg']}", code="invalid_json")
    message = first["msg"].removeprefix("Value error, ")
    if first["loc"]:  # a field's own check: name the field (the top-level one is OpenAI's `param`)
        param = str(first["loc"][0])
        return bad_request(f"{param}: {message}", param)
    param, _, _ = message.partition(":")  # a cross-field check names its field first
    return bad_request(message, param if param.isidentifier() else None)


def sampling_params(request: _Sampling, max_tokens_limit: int, logprobs: int | None) -> SamplingParams:
    """The engine's parameters for a validated request; OpenAI's defaults (16 tokens, temperature 1)."""
    max_tokens = request.max_tokens
    if isinstance(request, ChatRequest) and request.max_completion_tokens is not None:
        max_tokens = request.max_completion_tokens
    max_tokens = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
    if max_tokens > max_tokens_limit:
        raise bad_request(f"max_tokens: {max_tokens} is above this server's limit ({max_tokens_limit})", "max_tokens")
    echo = isinstance(request, CompletionRequest) and bool(request.echo)
    try:
        return SamplingParams(
            max_tokens=max(max_tokens, 1),  # echo with 0: the engine makes one token, never returned (vLLM's way)
            temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
            top_p=1.0 if request.top_p is None else request.top_p,
            top_k=max(request.top_k or 0, 0),
            min_p=request.min_p or 0.0,
            seed=request.seed,
            logprobs=logprobs,
            ignore_eos=request.ignore_eos,
            logit_bias={int(k): v for k, v in request.logit_bias.items()} if request.logit_bias else None,
            presence_penalty=request.presence_penalty or 0.0,
            frequency_penalty=request.frequency_penalty or 0.0,
            repetition_penalty=1.0 if request.repetition_penalty is None else request.repetition_penalty,
            min_tokens=request.min_tokens,
            stop_token_ids=tuple(request.stop_token_ids or ()),
            n=request.n or 1,
            prompt_logprobs=logprobs if echo else None,
            cache_prompt=request.cache_prompt,
            cache_salt=request.cache_salt,
        )
    except ConfigError as e:  # a check across fields (min_tokens above max_tokens)
        raise bad_request(str(e), e.fields[0] if e.fields else None) from None
