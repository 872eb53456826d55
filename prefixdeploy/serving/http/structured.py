"""A request's structured-output fields into one runtime `Constraint`, compiled before any compute.

Accepted (at most one per request): OpenAI's `response_format` (`json_object`, `json_schema`; `text` is none),
vLLM's `structured_outputs` (exactly one of `json`, `regex`, `choice`, `grammar`, `json_object`) and its older
`guided_json`, `guided_regex`, `guided_choice`, `guided_grammar`. The constraint compiles on a worker thread (cached
per bundle: the same schema again costs a lookup); an invalid schema, an unsupported keyword, a regex or grammar
that does not compile, or one past the limits is a 400 whose `param` names the field (runtime/constraints.py).
"""

from __future__ import annotations

import asyncio
import dataclasses

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.constraints import Constraint, Grammars
from prefixdeploy.serving.engine.engine import SamplingParams
from prefixdeploy.serving.http.errors import bad_request
from prefixdeploy.serving.http.protocol import ChatRequest, StructuredOutputs, _Sampling
from prefixdeploy.serving.http.tools import tool_plan


def request_constraint(request: _Sampling) -> Constraint | None:
    """The one constraint the request asks for, or None; a 400 naming the field if it asks for several."""
    found = [c for c in (_response_format(request), _structured_outputs(request.structured_outputs)) if c]
    plan = tool_plan(request) if isinstance(request, ChatRequest) else None
    if plan is not None and plan.constraint() is not None:  # required or a named function
        found.append(plan.constraint())
    for field, value, make in (
        ("guided_json", request.guided_json, Constraint.json_schema),
        ("guided_regex", request.guided_regex, Constraint.regex),
        ("guided_choice", request.guided_choice, Constraint.choice),
        ("guided_grammar", request.guided_grammar, Constraint.grammar),
    ):
        if value is not None:
            found.append(_checked(make, value, field))
    if len(found) > 1:
        names = " and ".join(c.field for c in found)
        raise bad_request(f"{found[1].field}: give one structured-output field, not {names}", found[1].field)
    return found[0] if found else None


async def with_constraint(request: _Sampling, params: SamplingParams, grammars: Grammars) -> SamplingParams:
    """`params` with the request's compiled constraint (each of its rows gets its own matcher), or unchanged."""
    constraint = request_constraint(request)
    if constraint is None:
        return params
    try:
        compiled = await asyncio.to_thread(grammars.compile, constraint)
    except ConfigError as e:
        raise bad_request(str(e), constraint.field) from None
    except PrefixDeployError as e:  # llguidance is not installed
        raise bad_request(f"{constraint.field}: {e}", constraint.field) from None
    return dataclasses.replace(params, constraint=compiled)


def _response_format(request: _Sampling) -> Constraint | None:
    fmt = request.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return Constraint.json_object("response_format")
    return _checked(Constraint.json_schema, fmt.json_schema.schema_, "response_format")


def _structured_outputs(so: StructuredOutputs | None) -> Constraint | None:
    if so is None:
        return None
    given = {
        name: value
        for name, value in (
            ("json", so.json_),
            ("regex", so.regex),
            ("choice", so.choice),
            ("grammar", so.grammar),
            ("json_object", so.json_object or None),
        )
        if value is not None
    }
    if len(given) != 1:
        listing = ", ".join(given) or "none"
        raise bad_request(
            f"structured_outputs: give exactly one of json, regex, choice, grammar, json_object (got {listing})",
            "structured_outputs",
        )
    ((name, value),) = given.items()
    if name == "json_object":
        return Constraint.json_object("structured_outputs")
    make = {"json": Constraint.json_schema, "regex": Constraint.regex, "choice": Constraint.choice}.get(
        name, Constraint.grammar
    )
    return _checked(make, value, "structured_outputs")


def _checked(make, value, field: str) -> Constraint:
    try:
        return make(value, field=field)
    except ConfigError as e:
        raise bad_request(str(e), field) from None
