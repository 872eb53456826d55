"""Tools on chat completions through a real server and the openai client: a named function and `required` hold the
output to the tools' schemas and return `tool_calls` (also streamed), a tool round trip renders the call and the
tool's answer through the template, `auto` needs a template that declares tools, and calls parse in Hermes' form."""

from __future__ import annotations

import json

import jsonschema
import pytest
from engine_cases import single

from prefixdeploy.runtime.constraints import Constraint
from prefixdeploy.serving.http.protocol import ChatRequest
from prefixdeploy.serving.http.tools import ToolPlan, declares_tools, tool_plan

WEATHER = {
    "type": "object",
    "properties": {"city": {"enum": ["Paris", "Oslo"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "days"],
    "additionalProperties": False,
}
TIME = {
    "type": "object",
    "properties": {"zone": {"enum": ["UTC", "CET"]}},
    "required": ["zone"],
    "additionalProperties": False,
}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": TIME}},
]
MESSAGES = [{"role": "user", "content": "weather in Oslo?"}]
N = 90


def ask(server, **fields):
    args = dict(model="qa", messages=MESSAGES, max_tokens=N, temperature=0, tools=TOOLS) | fields
    return server.client().chat.completions.create(**args)


def test_a_named_function_returns_its_arguments_as_run_does(server, reference):
    choice = {"type": "function", "function": {"name": "get_weather"}}
    out = ask(server, tool_choice=choice, extra_body={"return_token_ids": True})
    [call] = out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "tool_calls" and out.choices[0].message.content is None
    assert call.function.name == "get_weather" and call.id.startswith("call_") and call.type == "function"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER)
    prompt = out.choices[0].model_extra["prompt_token_ids"]
    want = single(reference.bundle, prompt, "qa", N, constraint=Constraint.json_schema(WEATHER))
    assert out.choices[0].model_extra["token_ids"] == want


def test_required_returns_calls_of_the_given_tools_also_streamed(server):
    """One call (parallel_tool_calls false: the random model would add calls until max_tokens)."""
    out = ask(server, tool_choice="required", parallel_tool_calls=False)
    calls = out.choices[0].message.tool_calls
    assert out.choices[0].finish_reason == "tool_calls" and calls
    schemas = {"get_weather": WEATHER, "get_time": TIME}
    for call in calls:
        jsonschema.validate(json.loads(call.function.arguments), schemas[call.function.name])
    chunks = list(ask(server, tool_choice="required", parallel_tool_calls=False, stream=True))
    last = next(c for c in chunks if c.choices and c.choices[0].finish_reason)
    streamed = last.choices[0].delta.tool_calls
    assert last.choices[0].finish_reason == "tool_calls"
    assert [(c.index, c.function.name, c.function.arguments) for c in streamed] == [
        (i, c.function.name, c.function.arguments) for i, c in enumerate(calls)
    ]


def test_a_tool_round_trip_with_the_openai_client(server, reference):
    """call -> the tool's answer as a `tool` message -> the model answers; the second prompt holds the call (as text:
    the tiny template does not read tool_calls) and the tool's answer, rendered by the template."""
    short = [{"role": "user", "content": "time?"}]  # the tiny model's context is 128 tokens
    first = ask(server, messages=short, tool_choice={"type": "function", "function": {"name": "get_time"}})
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *short,
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "noon"},
    ]
    second = server.client().chat.completions.create(
        model="summ", messages=messages, max_tokens=4, temperature=0, extra_body={"return_token_ids": True}
    )
    assert second.choices[0].finish_reason in ("stop", "length") and second.choices[0].message.tool_calls is None
    ids = second.choices[0].model_extra["prompt_token_ids"]
    rendered = reference.bundle.codec.tokenizer.decode(ids, skip_special_tokens=False)
    arguments = json.loads(call.function.arguments)
    assert f"assistant: {json.dumps([{'name': 'get_time', 'parameters': arguments}])}" in rendered
    assert "tool: noon" in rendered and rendered.endswith("assistant:")


def test_none_leaves_the_output_free_and_auto_needs_a_template_that_declares_tools(server):
    out = ask(server, tool_choice="none", max_tokens=4)
    assert out.choices[0].message.tool_calls is None
    with server.http() as http:
        response = http.post("/v1/chat/completions", json={"model": "qa", "messages": MESSAGES, "tools": TOOLS})
    assert response.status_code == 400 and response.json()["error"]["param"] == "tool_choice"
    assert "declares tool use" in response.json()["error"]["message"]


BAD = {
    "named tool not in tools": ({"tool_choice": {"type": "function", "function": {"name": "nope"}}}, "tool_choice"),
    "required without tools": ({"tool_choice": "required", "tools": None}, "tool_choice"),
    "two tools of one name": ({"tools": TOOLS[:1] * 2}, "tools"),
    "a tool with a bad schema": (
        {
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "strin"}}}],
            "tool_choice": "required",
        },
        "tool_choice",
    ),  # fmt: skip
    "tools and a response_format": (
        {"tool_choice": "required", "response_format": {"type": "json_object"}},
        "tool_choice",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_tool_requests_are_400_naming_the_field(server, case):
    fields, param = BAD[case]
    body = {"model": "qa", "messages": MESSAGES, "max_tokens": 4, "tools": TOOLS} | fields
    with server.http() as http:
        response = http.post("/v1/chat/completions", json={k: v for k, v in body.items() if v is not None})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param, response.text


HERMES = (
    "{% if tools %}<tools>{{ tools | tojson }}</tools>{% endif %}"
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}<s>assistant:"
)


def test_auto_parses_hermes_calls_and_bare_json_and_keeps_the_text():
    request = ChatRequest.model_validate({"model": "m", "messages": MESSAGES, "tools": TOOLS})
    plan = tool_plan(request)
    assert plan.mode == "auto" and plan.constraint() is None and declares_tools(HERMES) and not declares_tools("x")
    text = 'Let me look.\n<tool_call>\n{"name": "get_time", "arguments": {"zone": "UTC"}}\n</tool_call>'
    content, calls = plan.parse(text)
    assert content == "Let me look." and [(c["function"]["name"], c["function"]["arguments"]) for c in calls] == [
        ("get_time", '{"zone": "UTC"}')
    ]
    assert plan.parse('{"name": "get_weather", "parameters": {"city": "Oslo", "days": 2}}')[1][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Oslo", "days": 2}',
    }
    assert plan.parse("no call here") == ("no call here", [])
    assert plan.parse('<tool_call>{"name": "unknown", "arguments": {}}</tool_call>')[1] == []
    assert ToolPlan("required", {"f": {}}).parse('[{"name": "f"') == ('[{"name": "f"', [])  # cut by max_tokens
