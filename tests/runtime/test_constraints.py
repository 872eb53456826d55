"""Constraints in the runtime: outputs match the JSON schema, regex, choice or grammar, end with EOS only where the
grammar allows, stay exact under prompt lookup, and bad constraints fail before any forward, naming the field.

A tiny random model has no idea of JSON, so whatever it produces under a constraint is the constraint's doing. The
schemas bound every value's length, so a greedy row finishes well within max_new_tokens.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner
from lookup_oracle import oracle
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime import lookup
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.constraints import MAX_SOURCE_CHARS, Constraint, constraint_from_options
from prefixdeploy.runtime.generate import GenerationConfig, generate_steps
from prefixdeploy.runtime.lookup import LookupStats

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
REGEX = r"[a-c]{3}-[0-9]{2}"
LARK = 'start: "x" sum? "=" /[0-9]/\nsum: "+x" "+x"?'
PROMPTS = ["hello", "the quick brown fox", "a"]
N_NEW = 100


@pytest.fixture(scope="module")
def bundle(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as b:
        yield b


def generate(bundle, prompts, prefixes, constraint, **options):
    config = GenerationConfig(max_new_tokens=options.pop("max_new_tokens", N_NEW), constraint=constraint, **options)
    return bundle.generate(prompts, prefixes, config)


def ended_by_eos(bundle, generation) -> bool:
    return generation.token_ids[-1] in bundle.manifest.eos_token_ids


def test_json_schema_outputs_parse_and_validate_in_a_batch_as_alone(bundle):
    constraint = Constraint.json_schema(SCHEMA)
    batch = generate(bundle, PROMPTS, ["summ", "qa", None], constraint)
    for prompt, prefix, row in zip(PROMPTS, ["summ", "qa", None], batch):
        assert ended_by_eos(bundle, row), row.text
        jsonschema.validate(json.loads(row.text), SCHEMA)
        assert generate(bundle, [prompt], [prefix], constraint)[0].token_ids == row.token_ids  # a matcher per row
    free = generate(bundle, PROMPTS[:1], ["summ"], None, ignore_eos=True)[0].text
    assert not free.startswith("{")  # the random model alone writes no JSON


def test_json_object_after_a_bias(bundle):
    """Any JSON object: keys and values are free, so a processor before the constraint favours closing quotes and
    braces (the random model would write strings past the tiny context); the constraint still decides."""
    ids = [bundle.codec.tokenizer.token_to_id(t) for t in ('"', "}")]

    def favour(history, logits):
        out = logits.copy()
        out[ids] += 8.0
        return out

    rows = generate(bundle, PROMPTS, ["summ", "qa", None], Constraint.json_object(), logits_processors=(favour,))
    for row in rows:
        assert ended_by_eos(bundle, row) and isinstance(json.loads(row.text), dict), row.text


@pytest.mark.parametrize(
    "constraint, check",
    [
        (Constraint.regex(REGEX), lambda text: re.fullmatch(REGEX, text)),
        (Constraint.choice(["yes", "no", "maybe so"]), lambda text: text in ("yes", "no", "maybe so")),
        (Constraint.grammar(LARK), lambda text: re.fullmatch(r"x(\+x){0,2}=[0-9]", text)),
        (Constraint.grammar('root ::= "on" | "off"'), lambda text: text in ("on", "off")),  # GBNF
    ],
)
def test_regex_choice_grammar_and_json_object(bundle, constraint, check):
    for row in generate(bundle, PROMPTS, ["summ", "qa", None], constraint, max_new_tokens=N_NEW):
        assert ended_by_eos(bundle, row) and check(row.text), row.text


def test_sampled_rows_follow_the_constraint_too(bundle):
    rows = generate(bundle, PROMPTS, ["summ"] * 3, Constraint.json_schema(SCHEMA), temperature=1.5, seed=3)
    for row in rows:
        jsonschema.validate(json.loads(row.text), SCHEMA)


def test_max_new_tokens_mid_json_stops_there_without_eos(bundle):
    whole = generate(bundle, ["hello"], ["summ"], Constraint.json_schema(SCHEMA))[0]
    cut = generate(bundle, ["hello"], ["summ"], Constraint.json_schema(SCHEMA), max_new_tokens=5)[0]
    assert cut.token_ids == whole.token_ids[:5] and not ended_by_eos(bundle, cut)


def test_ignore_eos_after_the_grammar_ends_repeats_eos(bundle):
    whole = generate(bundle, ["hello"], ["qa"], Constraint.regex(REGEX))[0]
    more = generate(bundle, ["hello"], ["qa"], Constraint.regex(REGEX), ignore_eos=True, max_new_tokens=20)[0]
    eos = whole.token_ids[-1]
    assert more.token_ids == whole.token_ids + [eos] * (20 - len(whole.token_ids))


def test_the_matcher_follows_any_history_as_a_fresh_one_would(bundle):
    """Prompt lookup asks about hypothetical histories, longer and shorter: the processor rolls back and forward."""
    compiled = bundle.grammars.compile(Constraint.json_schema(SCHEMA))
    answer = bundle.codec.tokenizer.encode('{"name": "ab", "size": "large", "count": 42}').ids
    full = answer + bundle.manifest.eos_token_ids * 2
    logits = np.random.default_rng(0).standard_normal(bundle.manifest.vocab_size).astype(np.float32)
    processor, rng = compiled.processor(), random.Random(0)
    for _ in range(200):
        k = rng.randint(0, len(full))
        np.testing.assert_array_equal(processor(full[:k], logits), compiled.processor()(full[:k], logits))
    eos_only = np.isfinite(compiled.processor()(answer, logits))
    assert np.flatnonzero(eos_only).tolist() == bundle.manifest.eos_token_ids  # complete: only EOS may follow


@pytest.mark.parametrize("graph", ["model.onnx", "model.ort.fp32.onnx"])
def test_prompt_lookup_stays_exact_under_a_constraint(tiny_bundle, graph, monkeypatch):
    """Drafts of the unconstrained output (the grammar rejects them) and of the constrained output itself, whole or
    with a wrong token: every run equals plain constrained greedy decoding, token for token."""
    with load_bundle(tiny_bundle("switchable"), graph=graph) as bundle:
        compiled = bundle.grammars.compile(Constraint.json_schema(SCHEMA))
        ids, rows = bundle.encode("hello hello hello"), [bundle.resolve("qa")]
        plain = GenerationConfig(max_new_tokens=N_NEW)
        looked = dataclasses.replace(plain, prompt_lookup=6)

        def run(config, stats=None):
            steps = generate_steps(
                bundle.backend, bundle.manifest, [ids], rows, config, graph != "model.onnx", stats,
                row_processors=[(compiled.processor(),)],
            )  # fmt: skip
            return [int(s.tokens[0]) for s in steps]

        want = run(plain)
        free = bundle.generate_ids([ids], rows, GenerationConfig(max_new_tokens=N_NEW))[0]
        for truth, wrong_at in ((free, None), (want, None), (want, 4), (want, 11)):
            with monkeypatch.context() as patch:
                oracle(patch, lookup, len(ids), truth, wrong_at)
                stats = LookupStats()
                assert run(looked, stats) == want
            assert stats.drafted > 0
        assert stats.accepted > 0


def test_bad_constraints_fail_before_any_forward_naming_the_field(bundle):
    cases = [
        (Constraint.json_schema({"type": "object", "properties": {"a": {"type": "strin"}}}), "Invalid type: strin"),
        (Constraint.json_schema({"type": "object", "if": {}}), "Unimplemented keys"),
        (Constraint.json_schema({"$ref": "#/nowhere"}), "does not exist"),
        (Constraint.regex("a(b"), "unclosed group"),
        (Constraint.grammar("start: foo"), 'unknown name: "foo"'),
    ]
    calls, real = [], bundle.backend.run
    for constraint, needle in cases:
        bundle.backend.run = calls.append
        try:
            with pytest.raises(ConfigError, match=re.escape(needle)) as caught:
                bundle.steps([[1, 2]], ["summ"], GenerationConfig(constraint=constraint))
        finally:
            bundle.backend.run = real
        assert caught.value.fields == (constraint.field,) and "\n" not in str(caught.value) and not calls


def test_constraint_input_checks():
    with pytest.raises(ConfigError, match="not valid JSON"):
        Constraint.json_schema("{nope")
    with pytest.raises(ConfigError, match="is an object"):
        Constraint.json_schema("[1]")
    with pytest.raises(ConfigError, match=f"the limit is {MAX_SOURCE_CHARS}"):
        Constraint.regex("a" * (MAX_SOURCE_CHARS + 1))
    with pytest.raises(ConfigError, match="non-empty strings"):
        Constraint.choice(["a", ""])
    with pytest.raises(ConfigError, match="give one constraint, not regex and choice") as caught:
        constraint_from_options(regex="a", choice=["b"])
    assert caught.value.fields == ("regex", "choice")
    with pytest.raises(ConfigError, match="constraint must be a Constraint"):
        GenerationConfig(constraint={"type": "object"})


def test_cli_run_with_constraints(tiny_bundle, tmp_path):
    base = ["run", str(tiny_bundle("switchable")), "--prefix", "qa", "--max-new-tokens", "80", "--json", "hello"]
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(SCHEMA))
    out = CliRunner().invoke(main, [*base, "--json-schema", str(schema)])
    assert out.exit_code == 0, out.output
    jsonschema.validate(json.loads(json.loads(out.output)["text"]), SCHEMA)
    out = CliRunner().invoke(main, [*base, "--choice", "red,green,blue"])
    assert json.loads(out.output)["text"] in ("red", "green", "blue")
    bad = CliRunner().invoke(main, [*base, "--regex", "a(b"])
    assert_user_error(bad.exit_code, bad.stderr, "--regex: ", "unclosed group")
    both = CliRunner().invoke(main, [*base, "--regex", "a", "--choice", "b"])
    assert_user_error(both.exit_code, both.stderr, "give one constraint, not --regex and --choice")


def test_bench_structured_scenario(tiny_bundle, tmp_path):
    from prefixdeploy.bench import BenchConfig, format_report, run_bench, to_json

    inputs, schema = tmp_path / "inputs.jsonl", tmp_path / "schema.json"
    inputs.write_text("".join(json.dumps({"input": t}) + "\n" for t in PROMPTS))
    schema.write_text(json.dumps(SCHEMA))
    bundle = tiny_bundle("switchable")
    options = dict(output_length=N_NEW, prompt_length=8, warmup=0, repetitions=1, batch_size=2)
    run = run_bench(BenchConfig(bundle, scenarios="structured", inputs=inputs, json_schema=schema, **options))
    result = to_json(run)["structured"]
    assert result["inputs"] == 3 and result["compile_ms"] > result["cached_compile_ms"]
    assert [b["batch_size"] for b in result["batches"]] == [1, 2]
    for batch in result["batches"]:
        assert batch["constrained_ms_per_step"] > 0 and batch["plain_ms_per_step"] > 0
        assert batch["constrained_parsed"] == "3/3" and batch["outputs_changed"] == 3
    assert "structured (schema schema.json, prefix summ, 3 inputs)" in format_report(run)
    with pytest.raises(PrefixDeployError, match="needs inputs FILE and json_schema FILE"):
        BenchConfig(bundle, scenarios="structured", inputs=inputs)
