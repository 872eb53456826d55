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
from prefixdeploy.serving.http.tools import ToolPlan, call_arguments, declares_tools


class ChatTemplate:
    def __init__(self, manifest: Manifest, codec: TextCodec, limits: PromptLimits):
        self.manifest, self.codec, self.limits = manifest, codec, limits

    def encode(self, messages: list[Message], prefix: Prefix | None, plan: ToolPlan | None = None) -> list[int]:
        """Prompt token ids for `messages` after `prefix`, ending with the assistant turn's opening. With tools
        (`plan`), the conversation renders through the Jinja template, which receives them as `tools`."""
        # the template only adds text around the messages: if their text alone cannot fit, the prompt cannot
        self.limits.check_text(sum(len(m.text) for m in messages), "messages")
        if plan is not None:
            return self._encode_with_tools(messages, prefix, plan)
        after = prefix.ends_with if prefix is not None else VIRTUAL
        one_user_turn = len(messages) == 1 and messages[0].role == "user"
        if after == SYSTEM_TURN and not one_user_turn:
            raise bad_request(
                f"prefix {prefix.name!r} holds a system message: send exactly one user message", "messages"
            )
        if one_user_turn and (after == SYSTEM_TURN or self.manifest.chat_prompt is not None):
            return self.codec.encode(messages[0].text, chat=True, after=after)  # exactly `run --chat`
        return self.codec.encode_raw(self.render(messages), add_special_tokens=False)

    def _encode_with_tools(self, messages: list[Message], prefix: Prefix | None, plan: ToolPlan) -> list[int]:
        if plan.mode == "auto" and not declares_tools(self.manifest.chat_template):
            raise bad_request(
                "tool_choice: 'auto' needs a chat template that declares tool use, and this model's does not; "
                "use tool_choice 'required' or a named function (the output is then held to the tools' schemas)",
                "tool_choice",
            )
        if prefix is not None and prefix.ends_with == SYSTEM_TURN:
            raise bad_request(f"prefix {prefix.name!r} holds a system message: it takes no tools", "tools")
        tools = [{"type": "function", "function": {"name": n, "parameters": s}} for n, s in plan.schemas.items()]
        return self.codec.encode_raw(self.render(messages, tools), add_special_tokens=False)

    def render(self, messages: list[Message], tools: list[dict] | None = None) -> str:
        """The whole conversation through the model's Jinja template, with the generation prompt."""
        if self.manifest.chat_template is None:
            raise bad_request("this model has no chat template; use /v1/completions with a plain prompt", "messages")
        try:
            return self._template.render(
                messages=[self._message(m) for m in messages],
                tools=tools,
                add_generation_prompt=True,
                bos_token=self._token(self.manifest.bos_token_id),
                eos_token=self._token(self.manifest.eos_token_ids[0] if self.manifest.eos_token_ids else None),
            )
        except TemplateError as e:  # includes the template's own raise_exception (e.g. roles out of order)
            raise bad_request(f"the model's chat template refused these messages: {e}", "messages") from None

    def _message(self, m: Message) -> dict:
        """A message as templates read it (transformers' form). An assistant's calls: `tool_calls` with parsed
        arguments; for a template that does not read `tool_calls`, also as text (the `required` form) so the model
        sees what it called."""
        out = {"role": m.role, "content": m.text}
        if m.tool_call_id is not None:
            out["tool_call_id"] = m.tool_call_id
        if m.tool_calls:
            calls = [{"name": c.function.name, "arguments": call_arguments(c)} for c in m.tool_calls]
            out["tool_calls"] = [{"id": c.id, "type": "function", "function": f} for c, f in zip(m.tool_calls, calls)]
            if not m.text and "tool_calls" not in (self.manifest.chat_template or ""):
                out["content"] = json.dumps([{"name": f["name"], "parameters": f["arguments"]} for f in calls])
        return out

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
