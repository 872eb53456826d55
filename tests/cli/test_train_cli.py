"""`prefixdeploy train` from the command line: bad input gives exit code 2 and one clear line, no traceback."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from transformers import AutoTokenizer
from user_errors import assert_user_error

from prefixdeploy.cli import main, train
from prefixdeploy.training.config import TrainConfig


def run_train(*args) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["train", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def args(tiny_model_dir, tmp_path):
    def make(lines: list[str], *extra) -> list:
        data = tmp_path / "train.jsonl"
        data.write_text("".join(line + "\n" for line in lines))
        return ["--model", tiny_model_dir("llama"), "--data", data, "-o", tmp_path / "t.safetensors", *extra]

    return make


GOOD = json.dumps({"input": "hello world", "output": "how are you"})


def test_a_small_run_succeeds(args, tmp_path):
    code, out, err = run_train(*args([GOOD, GOOD], "--epochs", "1", "--prefix-length", "4"))
    assert code == 0, err
    assert out.startswith(f"wrote {tmp_path / 't.safetensors'}: prefix 't', 4 virtual tokens, 1 steps")
    assert (tmp_path / "t.safetensors").is_file()


def test_bad_json_names_the_file_and_line(args):
    code, _, err = run_train(*args([GOOD, "", '{"input": "a", "output": }']))
    assert_user_error(code, err, "train.jsonl:3: not valid JSON")


def test_record_without_output_names_the_line(args):
    code, _, err = run_train(*args([GOOD, json.dumps({"input": "a", "target": "b"})]))
    assert_user_error(code, err, "train.jsonl:2:", "'output' is missing")


def test_record_that_is_not_an_object_names_the_line(args):
    code, _, err = run_train(*args(["[1, 2]"]))
    assert_user_error(code, err, "train.jsonl:1:", "found a JSON list")


def test_messages_must_end_with_the_assistant(args):
    record = {"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}
    code, _, err = run_train(*args([json.dumps(record)]))
    assert_user_error(code, err, "train.jsonl:1:", "last message must be the assistant's")


def test_empty_data(args):
    code, _, err = run_train(*args(["", "   "]))
    assert_user_error(code, err, "train.jsonl holds no records")


def test_missing_data_file(tiny_model_dir, tmp_path):
    code, _, err = run_train(
        "--model", tiny_model_dir("llama"), "--data", tmp_path / "nope.jsonl", "-o", "x.safetensors"
    )
    assert_user_error(code, err, "nope.jsonl does not exist")


def test_record_longer_than_max_length_gives_both_lengths(args, tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir("llama"))
    short = {"input": "hello", "output": "yes"}
    long = {"input": "the quick brown fox jumps over the lazy dog", "output": "hello world"}
    n_in = len(tok(long["input"]).input_ids)
    n_out = len(tok(long["output"], add_special_tokens=False).input_ids) + 1
    limit = n_in + n_out - 1
    code, _, err = run_train(*args([json.dumps(short), json.dumps(long)], "--max-length", limit))
    assert_user_error(code, err, "train.jsonl:2:", f"{n_in + n_out} tokens", f"longer than --max-length {limit}")
    assert f"input {n_in} + output {n_out}" in err


def test_bad_validation_file_is_named(args, tmp_path):
    (tmp_path / "val.jsonl").write_text("not json\n")
    code, _, err = run_train(*args([GOOD], "--validation", tmp_path / "val.jsonl"))
    assert_user_error(code, err, "val.jsonl:1: not valid JSON")


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--validation", "v.jsonl", "--validation-split", "0.1"], "either --validation FILE or --validation-split"),
        (["--patience", "2"], "--patience needs validation data"),
        (["--resume"], "--resume needs --checkpoint-dir"),
        (["--prefix-length", "0"], "--prefix-length must be at least 1, got 0"),
        (["--lr", "0"], "--lr must be > 0"),
        (["--validation-split", "1.5"], "--validation-split must be in [0, 1)"),
    ],
)
def test_inconsistent_options(args, extra, message):
    code, _, err = run_train(*args([GOOD], *extra))
    assert_user_error(code, err, message)


def test_output_must_be_safetensors(tiny_model_dir, tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text(GOOD + "\n")
    code, _, err = run_train("--model", tiny_model_dir("llama"), "--data", data, "-o", tmp_path / "x.bin")
    assert_user_error(code, err, "must name a .safetensors file")


def test_cli_options_map_one_to_one_onto_config_fields():
    params = {p.name: p for p in train.params}
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert set(params) == set(fields)
    for name, field in fields.items():
        if field.default is not dataclasses.MISSING and not params[name].required:
            assert params[name].default == field.default, name


def test_prefix_plus_record_longer_than_the_models_positions(args):
    long = json.dumps({"input": "hello world " * 30, "output": "yes"})  # > 128 - 16 tokens for the tiny model
    code, _, err = run_train(*args([long], "--max-length", "1000", "--prefix-length", "16"))
    assert_user_error(code, err, "--prefix-length 16 + the longest record", "exceeds the model's 128 positions")
