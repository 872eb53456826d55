"""Chat messages -> prompt token ids with the bundle's chat template.

One user message uses the manifest's pre-rendered `chat_prompt`, exactly as `prefixdeploy run --chat` does (also
after a prefix that stores a system turn, which then takes only one user message). Longer conversations render the
manifest's Jinja `chat_template` as transformers' `apply_chat_template` does (a sandboxed jinja2 environment with
trim_blocks/lstrip_blocks, `raise_exception`, `tojson`, bos/eos token strings, `add_generation_prompt=True`). jinja2
comes with the serve extra; the runtime never imports it.
"""

from __future__ import annotations

import json
from functools import cached_property

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.prefix import SYSTEM_TURN, VIRTUAL, Prefix
from prefixdeploy.runtime.tokenizer import TextCodec
from prefixdeploy.serving.http.errors import bad_request
from prefixdeploy.serving.http.prompts import PromptLimits
from prefixdeploy.serving.http.protocol import Message


class ChatTemplate:
    def __init__(self, manifest: Manifest, codec: TextCodec, limits: PromptLimits):
        self.manifest, self.codec, self.limits = manifest, codec, limits

    def encode(self, messages: list[Message], prefix: Prefix | None) -> list[int]:
        """Prompt token ids for `messages` after `prefix`, ending with the assistant turn's opening."""
        # the template only adds text around the messages: if their text alone cannot fit, the prompt cannot
        self.limits.check_text(sum(len(m.text) for m in messages), "messages")
        after = prefix.ends_with if prefix is not None else VIRTUAL
        one_user_turn = len(messages) == 1 and messages[0].role == "user"
        if after == SYSTEM_TURN and not one_user_turn:
            raise bad_request(
                f"prefix {prefix.name!r} holds a system message: send exactly one user message", "messages"
            )
        if one_user_turn and (after == SYSTEM_TURN or self.manifest.chat_prompt is not None):
            return self.codec.encode(messages[0].text, chat=True, after=after)  # exactly `run --chat`
        return self.codec.encode_raw(self.render(messages), add_special_tokens=False)

    def render(self, messages: list[Message]) -> str:
        """The whole conversation through the model's Jinja template, with the generation prompt."""
        if self.manifest.chat_template is None:
            raise bad_request("this model has no chat template; use /v1/completions with a plain prompt", "messages")
        try:
            return self._template.render(
                messages=[{"role": m.role, "content": m.text} for m in messages],
                add_generation_prompt=True,
                bos_token=self._token(self.manifest.bos_token_id),
                eos_token=self._token(self.manifest.eos_token_ids[0] if self.manifest.eos_token_ids else None),
            )
        except TemplateError as e:  # includes the template's own raise_exception (e.g. roles out of order)
            raise bad_request(f"the model's chat template refused these messages: {e}", "messages") from None

    @cached_property
    def _template(self):
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        env.globals["raise_exception"] = _raise_exception
        env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
        try:
            return env.from_string(self.manifest.chat_template)
        except TemplateError as e:
            raise bad_request(f"the bundle's chat template does not parse: {e}", "messages") from None

    def _token(self, token_id: int | None) -> str:
        if token_id is None:
            return ""
        return self.codec.tokenizer.id_to_token(token_id) or ""


def _raise_exception(message: str):
    raise TemplateError(message)
