"""Bad input: exit code 2, one line on stderr saying what was wrong, no traceback, and no partial bundle."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner
from user_errors import assert_no_bundle_written, assert_user_error

from prefixdeploy.cli import main


def run_cli(*args) -> tuple[int, str]:
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stderr


@pytest.fixture
def bundle_copy(tiny_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(tiny_bundle("switchable"), copy)
    return copy


def test_unknown_prefix_lists_the_available_ones(tiny_bundle):
    code, err = run_cli("run", tiny_bundle("switchable"), "hello", "--prefix", "nope")
    assert_user_error(code, err, "unknown prefix 'nope'", "qa, summ")


def test_prefix_for_another_geometry_names_both_shapes(tiny_model_dir, peft_adapter, tmp_path):
    out = tmp_path / "out"
    code, err = run_cli("export", "--model", tiny_model_dir("llama"), "--prefix", peft_adapter("gpt2", 5), "-o", out)
    assert_user_error(code, err, "2 layers × 4 kv heads × 16", "2 layers × 2 kv heads × 16")
    assert_no_bundle_written(out)


def test_non_prefix_peft_adapter_is_refused_by_type(tiny_model_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir("llama"))
    get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj"])).save_pretrained(tmp_path / "lora")
    out = tmp_path / "out"
    code, err = run_cli("export", "--model", tiny_model_dir("llama"), "--prefix", tmp_path / "lora", "-o", out)
    assert_user_error(code, err, "LORA", "not prefix tuning")
    assert_no_bundle_written(out)


@pytest.mark.parametrize("damage", ["corrupt", "truncated"])
def test_corrupt_or_truncated_prefix_file(damage, tiny_bundle, tiny_model_dir, tmp_path):
    good = (tiny_bundle("switchable") / "prefixes" / "summ.safetensors").read_bytes()
    bad = tmp_path / "summ.safetensors"
    bad.write_bytes(good[: len(good) // 2] if damage == "truncated" else b"\x13\x37" * 40)
    out = tmp_path / "out"
    code, err = run_cli("export", "--model", tiny_model_dir("llama"), "--prefix", bad, "-o", out)
    assert_user_error(code, err, str(bad))
    assert_no_bundle_written(out)


@pytest.mark.parametrize("file", ["model.onnx.data", "tokenizer.json", "prefixes/qa.safetensors"])
def test_tampered_bundle_file_fails_its_hash(file, bundle_copy):
    path = bundle_copy / file
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    code, err = run_cli("run", bundle_copy, "hello", "--prefix", "summ")
    assert_user_error(code, err, file, "does not match its manifest hash")


@pytest.mark.parametrize("file", ["model.onnx.data", "model.onnx", "tokenizer.json"])
def test_missing_bundle_file(file, bundle_copy):
    (bundle_copy / file).unlink()
    code, err = run_cli("run", bundle_copy, "hello", "--prefix", "summ")
    assert_user_error(code, err, file, "missing")


def test_bundle_of_a_newer_format_version(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    code, err = run_cli("run", bundle_copy, "hello", "--prefix", "summ")
    assert_user_error(code, err, "format version 99", "upgrade prefixdeploy")


def test_not_a_bundle(tmp_path):
    code, err = run_cli("run", tmp_path, "hello")
    assert_user_error(code, err, "manifest.json is missing")


def test_prompt_longer_than_the_context_says_the_numbers(tiny_bundle):
    code, err = run_cli("run", tiny_bundle("switchable"), "hello " * 200, "--prefix", "qa")
    assert_user_error(code, err, "prefix 8 + prompt", "context of 128")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_max_new_tokens_below_one(value, tiny_bundle):
    code, err = run_cli("run", tiny_bundle("switchable"), "hello", "--prefix", "qa", "--max-new-tokens", value)
    assert_user_error(code, err, "--max-new-tokens must be at least 1")


@pytest.mark.parametrize("value", ["-0.1", "1.5", "nan"])
def test_min_p_outside_zero_to_one(value, tiny_bundle):
    code, err = run_cli(
        "run", tiny_bundle("switchable"), "hello", "--prefix", "qa", "--temperature", "1", "--min-p", value
    )
    assert_user_error(code, err, "--min-p must be in [0, 1]")


def test_existing_output_directory_needs_force(tiny_model_dir, peft_adapter, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["export", "--model", tiny_model_dir("llama"), "--prefix", peft_adapter("llama", 5), "-o", out]
    code, err = run_cli(*args)
    assert_user_error(code, err, "exists and is not empty", "--force")
    assert (out / "keep.txt").read_text() == "mine"
    code, err = run_cli(*args, "--force")
    assert code == 0, err
    assert (out / "manifest.json").is_file() and not (out / "keep.txt").exists()


def test_missing_prefix_source(tiny_model_dir, tmp_path):
    out = tmp_path / "out"
    code, err = run_cli("export", "--model", tiny_model_dir("llama"), "--prefix", tmp_path / "nope", "-o", out)
    assert_user_error(code, err, "does not exist")
    assert_no_bundle_written(out)


def test_a_real_process_exits_2_with_one_line(tiny_bundle):
    cmd = [sys.executable, "-m", "prefixdeploy.cli", "run", str(tiny_bundle("switchable")), "hi", "--prefix", "x"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert_user_error(done.returncode, done.stderr, "unknown prefix 'x'")
    debug = subprocess.run(cmd[:3] + ["--debug"] + cmd[3:], capture_output=True, text=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_export_portable_only_excludes_precision(tiny_model_dir, peft_adapter, tmp_path):
    out = tmp_path / "bundle"
    args = ["export", "--model", tiny_model_dir("llama"), "--prefix", peft_adapter("llama", 5), "-o", out]
    code, err = run_cli(*args, "--portable-only", "--precision", "int4")
    assert_user_error(code, err, "--portable-only and --precision exclude each other")
    assert_no_bundle_written(out)


def test_export_recipes_need_a_graph_of_their_precision(tiny_model_dir, peft_adapter, tmp_path):
    out = tmp_path / "bundle"
    args = ["export", "--model", tiny_model_dir("llama"), "--prefix", peft_adapter("llama", 5), "-o", out]
    code, err = run_cli(*args, "--precision", "int8", "--int4-recipe", "pure")
    assert_user_error(
        code, err, "--int4-recipe pure applies to int4 graphs; --precision has none: add int4 to --precision"
    )
    assert_no_bundle_written(out)
    code, err = run_cli(*args, "--precision", "int4", "--int4-recipe", "q4")
    assert code == 2 and "'q4' is not one of 'mixed', 'pure', 'mixed-dynamic'" in err
    code, err = run_cli(*args, "--precision", "int4", "--int8-recipe", "dynamic")
    assert_user_error(
        code, err, "--int8-recipe dynamic applies to int8 graphs; --precision has none: add int8 to --precision"
    )
    assert_no_bundle_written(out)


def test_bench_with_every_scenario_skipped_says_why(tiny_bundle):
    code, err = run_cli("bench", tiny_bundle("baked"), "--scenarios", "no-prefix", "--repetitions", 1)
    assert_user_error(code, err, "nothing to measure", "no prefix")
