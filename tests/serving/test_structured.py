"""Structured outputs in the server: per-row constraints in mixed batches equal `prefixdeploy run` with the same
constraint; response_format, structured_outputs and guided_* on completions and chat; the openai client's `parse()`
and `extra_body`; prompt lookup exact under a constraint; bad constraints are 400s naming the field."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Literal

import jsonschema
import pytest
from engine_cases import collect, serving, single
from lookup_oracle import oracle
from pydantic import BaseModel, ConfigDict, Field

from prefixdeploy.runtime import lookup
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.constraints import Constraint
from prefixdeploy.serving.engine.engine import SamplingParams

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 6},
        "size": {"enum": ["small", "large"]},
        "count": {"type": "integer", "minimum": 0, "maximum": 99},
    },
    "required": ["name", "size", "count"],
    "additionalProperties": False,
}
OTHER = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}, "tag": {"enum": ["a", "b", "c"]}},
    "required": ["ok", "tag"],
    "additionalProperties": False,
}
REGEX = r"[a-c]{3}-[0-9]{2}"
N = 80


class Item(BaseModel):  # what a client would parse into; bounded so that a random model finishes it
    model_config = ConfigDict(extra="forbid")  # additionalProperties: false, as parse() sends it
    size: Literal["small", "large"]
    count: int = Field(ge=0, le=9)
    name: str = Field(max_length=4)


def test_a_mixed_batch_of_constraints_equals_each_request_alone(tiny_bundle):
    """Rows with different schemas, a regex, a choice and no constraint, decoding together (8 slots), each equal
    `run` with its own constraint (a matcher per row)."""
    with load_bundle(tiny_bundle("switchable")) as b:
        constraints = [
            Constraint.json_schema(SCHEMA),
            Constraint.json_schema(OTHER),
            Constraint.regex(REGEX),
            Constraint.choice(["left", "right"]),
            None,
        ] * 2
        cases = [(b.encode(p), name) for p in ("hello", "the quick brown fox") for name in ("summ", "qa", None)]
        cases = (cases * 2)[: len(constraints)]
        want = [single(b, ids, name, N, constraint=c) for (ids, name), c in zip(cases, constraints)]
        with serving(b, max_num_seqs=8) as engine:

            async def run():
                streams = [
                    engine.submit(ids, b.prefixes.get(name), params(b, c)) for (ids, name), c in zip(cases, constraints)
                ]
                return await asyncio.gather(*(collect(s) for s in streams))

            got = asyncio.run(run())
    assert [tokens for tokens, _, _ in got] == want
    finished = [(tokens, c) for (tokens, reason, _), c in zip(got, constraints) if c and reason == "stop"]
    assert len(finished) >= 6  # the random model may spend a row's tokens on JSON's whitespace
    for tokens, c in finished:
        if c.kind.value == "json_schema":
            jsonschema.validate(json.loads(b.codec.decode(tokens)), json.loads(c.source))


def params(bundle, constraint, **options) -> SamplingParams:
    compiled = bundle.grammars.compile(constraint) if constraint is not None else None
    return SamplingParams(max_tokens=options.pop("max_tokens", N), temperature=0.0, constraint=compiled, **options)


def test_prompt_lookup_in_the_engine_stays_exact_under_a_constraint(tiny_bundle, monkeypatch):
    with load_bundle(tiny_bundle("switchable")) as b:
        ids, qa, constraint = b.encode("hello hello hello"), b.prefixes["qa"], Constraint.json_schema(SCHEMA)
        want = single(b, ids, "qa", N, constraint=constraint)
        free = single(b, ids, "qa", N)
        steps = []
        with serving(b, max_num_seqs=2, prompt_lookup=6) as engine:
            engine.on_step = steps.append

            async def run():
                return await collect(engine.submit(ids, qa, params(b, constraint)))

            for truth, wrong_at in ((free, None), (want, None), (want, 7)):
                with monkeypatch.context() as patch:
                    oracle(patch, lookup, len(ids), truth, wrong_at)
                    tokens, reason, _ = asyncio.run(run())
                assert tokens == want
    assert sum(s.accepted for s in steps) > 0 and sum(s.drafted for s in steps) > sum(s.accepted for s in steps)


def completion(server, body: dict) -> dict:
    with server.http() as http:
        response = http.post("/v1/completions", json={"model": "qa", "max_tokens": N, "temperature": 0} | body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    "fields, constraint",
    [
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": SCHEMA}}}, SCHEMA),
        ({"structured_outputs": {"json": SCHEMA}}, SCHEMA),
        ({"guided_json": json.dumps(OTHER)}, OTHER),
        ({"structured_outputs": {"regex": REGEX}}, REGEX),
        ({"guided_regex": REGEX}, REGEX),
        ({"guided_choice": ["up", "down"]}, ["up", "down"]),
        ({"structured_outputs": {"grammar": 'root ::= "on" | "off"'}}, ["on", "off"]),
    ],
)
def test_completions_follow_every_constraint_field_as_run_does(server, reference, fields, constraint):
    out = completion(server, {"prompt": "hello", "return_token_ids": True} | fields)["choices"][0]
    if isinstance(constraint, dict):
        jsonschema.validate(json.loads(out["text"]), constraint)
        runtime = Constraint.json_schema(constraint)
    elif isinstance(constraint, str):
        assert re.fullmatch(constraint, out["text"])
        runtime = Constraint.regex(constraint)
    else:
        assert out["text"] in constraint
        runtime = Constraint.choice(constraint)
    want = single(reference.bundle, reference.bundle.encode("hello", prefix="qa"), "qa", N, constraint=runtime)
    assert out["token_ids"] == want and out["finish_reason"] == "stop"


def test_max_tokens_mid_json_finishes_with_length(server):
    body = {"prompt": "hello", "max_tokens": 4, "response_format": {"type": "json_object"}}
    out = completion(server, body)["choices"][0]
    assert out["finish_reason"] == "length" and out["text"].startswith("{")


def test_chat_parse_with_a_pydantic_model_and_streaming(server, reference):
    """The openai client's `parse()` sends the model's strict JSON schema and parses the answer into the model."""
    client = server.client()
    messages = [{"role": "user", "content": "describe one item"}]
    out = client.chat.completions.parse(
        model="summ", messages=messages, response_format=Item, temperature=0, max_tokens=N
    )
    item = out.choices[0].message.parsed
    assert isinstance(item, Item) and out.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(
        model="summ",
        messages=messages,
        temperature=0,
        max_tokens=N,
        stream=True,
        response_format={"type": "json_schema", "json_schema": {"name": "Item", "schema": Item.model_json_schema()}},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert Item.model_validate_json(text) == item  # the same order of properties: the same tokens


def test_extra_body_structured_outputs_with_the_openai_client(server):
    out = server.client().chat.completions.create(
        model="qa",
        messages=[{"role": "user", "content": "is it good?"}],
        max_tokens=8,
        temperature=0.9,
        seed=5,
        extra_body={"structured_outputs": {"choice": ["positive", "negative"]}},
    )
    assert out.choices[0].message.content in ("positive", "negative")


BAD = {
    "schema with an unknown type": (
        {"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "strin"}}}},
        "response_format",
        "Invalid type",
    ),
    "schema with an unsupported keyword": (
        {"structured_outputs": {"json": {"type": "object", "if": {"required": ["a"]}}}},
        "structured_outputs",
        "Unimplemented keys",
    ),
    "json_schema without its schema": ({"response_format": {"type": "json_schema"}}, "response_format", "schema"),
    "guided_json that is not JSON": ({"guided_json": "{nope"}, "guided_json", "not valid JSON"),
    "regex that does not compile": ({"guided_regex": "a(b"}, "guided_regex", "unclosed group"),
    "grammar with an unknown rule": ({"structured_outputs": {"grammar": "start: foo"}}, "structured_outputs", "foo"),
    "two constraints": ({"guided_regex": "a", "guided_choice": ["b"]}, "guided_choice", "give one"),
    "structured_outputs with two kinds": (
        {"structured_outputs": {"regex": "a", "choice": ["b"]}},
        "structured_outputs",
        "exactly one",
    ),
    "structural_tag": ({"structured_outputs": {"structural_tag": "{}"}}, "structured_outputs", "not supported"),
    "empty choice list": ({"guided_choice": []}, "guided_choice", "non-empty"),
    "schema past the size limit": ({"guided_regex": "a" * 40000}, "guided_regex", "the limit is"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
@pytest.mark.parametrize("route", ["/v1/completions", "/v1/chat/completions"])
def test_bad_constraints_are_400_naming_the_field(server, case, route):
    fields, param, needle = BAD[case]
    body = {"model": "qa", "max_tokens": 4} | fields
    body |= {"prompt": "hi"} if route == "/v1/completions" else {"messages": [{"role": "user", "content": "hi"}]}
    before = server.metric("prefixdeploy_generation_tokens_total")
    with server.http() as http:
        response = http.post(route, json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and needle in error["message"], error
    assert server.metric("prefixdeploy_generation_tokens_total") == before  # refused before any compute
