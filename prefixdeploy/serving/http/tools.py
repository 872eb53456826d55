"""Tools on chat completions: `tool_choice` as a constraint on the output, and the calls parsed back out of it.

- `none` (the default without tools): nothing is constrained or parsed; a template that reads `tools` still shows them.
- a named function (`{"type": "function", "function": {"name"}}`): the output is that function's arguments, held
  to its `parameters` schema; it becomes one call.
- `required`: the output is a JSON array of calls `[{"name": <one of the tools>, "parameters": <its schema>}, …]`
  (vLLM's form), at least one (exactly one with `parallel_tool_calls: false`).
- `auto` (the default with tools): only where the model's chat template declares tool use (it reads `tools`); the
  output is free, and calls are parsed from it in the Hermes form the templates that declare tools ask for
  (`<tool_call>{"name": …, "arguments": {…}}</tool_call>`: Qwen2.5, Hermes, SmolLM3), or as one bare JSON object of
  that shape; the text outside the calls is the content.
Calls leave as `message.tool_calls` (`{id, type: "function", function: {name, arguments}}`, arguments as JSON text)
with `finish_reason: "tool_calls"`; a choice cut by `max_tokens` keeps its text and `"length"`.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass

from prefixdeploy.runtime.constraints import Constraint
from prefixdeploy.serving.http.protocol import ChatRequest, NamedTool

HERMES_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
NO_ARGUMENTS = {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolPlan:
    mode: str  # "none" | "auto" | "required" | "named"
    schemas: dict[str, dict]  # tool name -> its parameters schema
    name: str | None = None  # the named function
    parallel: bool = True

    def constraint(self) -> Constraint | None:
        """What the output must match: the named function's arguments, or the array of calls (required)."""
        if self.mode == "named":
            return Constraint.json_schema(self.schemas[self.name], field="tool_choice")
        if self.mode != "required":
            return None
        calls = [
            {
                "type": "object",
                "properties": {"name": {"enum": [name]}, "parameters": schema},
                "required": ["name", "parameters"],
                "additionalProperties": False,
            }
            for name, schema in self.schemas.items()
        ]
        array = {"type": "array", "items": {"anyOf": calls}, "minItems": 1}
        return Constraint.json_schema(array | ({} if self.parallel else {"maxItems": 1}), field="tool_choice")

    def parse(self, text: str) -> tuple[str | None, list[dict]]:
        """(content, calls) of a finished output; calls are OpenAI's tool_call objects."""
        if self.mode == "named":
            return None, [_call(self.name, text)]
        if self.mode == "required":
            try:
                return None, [_call(c["name"], json.dumps(c["parameters"])) for c in json.loads(text)]
            except (ValueError, KeyError, TypeError):  # cut by max_tokens: not a whole array
                return text, []
        if self.mode == "auto":
            return self._parse_auto(text)
        return text, []

    def _parse_auto(self, text: str) -> tuple[str | None, list[dict]]:
        found = [_loaded(body) for body in HERMES_CALL.findall(text)] or [_loaded(text.strip())]
        calls = [_call(c["name"], json.dumps(_arguments(c))) for c in found if _is_call(c, self.schemas)]
        if not calls:
            return text, []
        content = HERMES_CALL.sub("", text).strip() if HERMES_CALL.search(text) else ""
        return content or None, calls


def tool_plan(request: ChatRequest) -> ToolPlan | None:
    """The request's tool plan, or None without tools."""
    if not request.tools:
        return None
    schemas = {t.function.name: t.function.parameters or NO_ARGUMENTS for t in request.tools}
    choice = request.tool_choice or "auto"
    if isinstance(choice, NamedTool):
        return ToolPlan("named", schemas, choice.function.name)
    return ToolPlan(choice, schemas, parallel=request.parallel_tool_calls is not False)


def declares_tools(chat_template: str | None) -> bool:
    """Whether a chat template renders the `tools` variable (HF's apply_chat_template passes it by that name)."""
    return bool(chat_template) and re.search(r"\btools\b", chat_template) is not None


def call_arguments(call) -> dict | str:
    """An assistant message's call as templates expect it: arguments parsed (transformers and vLLM do so)."""
    try:
        return json.loads(call.function.arguments)
    except ValueError:
        return call.function.arguments


def _call(name: str, arguments: str) -> dict:
    return {
        "id": f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": arguments},
    }


def _loaded(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def _arguments(call: dict):
    return call.get("arguments", call.get("parameters", {}))


def _is_call(value, schemas: dict) -> bool:
    return isinstance(value, dict) and value.get("name") in schemas and isinstance(_arguments(value), dict)
