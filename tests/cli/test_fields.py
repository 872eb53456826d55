"""Library configs name their fields in errors; the CLI spells the same errors as its options (`cli.errors.in_flags`).

Each case is one mistake made twice: through the config a Python user builds (the message names the field, no flag
in it) and through the command (the message names the option, as it always did)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import ConfigError


def export_config(**options):
    from prefixdeploy.exporter.export import ExportConfig

    return ExportConfig("m", (), Path("out"), **options)


def serve_config(**options):
    from prefixdeploy.serving.http.config import ServeConfig

    return ServeConfig(bundle=Path("bundle"), **options)


def train_config(**options):
    from prefixdeploy.training.config import TrainConfig

    return TrainConfig(**{"model": "m", "data": Path("d.jsonl"), "output": Path("p.safetensors")} | options)


TRAIN = ["train", "--model", "m", "--data", "d.jsonl"]

CASES = {
    "export opset": (
        lambda: export_config(opset=3),
        ("opset",),
        "opset must be in 17–20, got 3",
        ["export", "--model", "m", "-o", "out", "--opset", "3"],
        "--opset must be in 17–20, got 3",
    ),
    "export precisions (option --precision)": (
        lambda: export_config(precisions=("fp32", "fp32")),
        ("precisions",),
        "precisions names a precision more than once; give each once",
        ["export", "--model", "m", "-o", "out", "--precision", "fp32", "--precision", "fp32"],
        "--precision names a precision more than once; give each once",
    ),
    "serve max_num_seqs": (
        lambda: serve_config(max_num_seqs=0),
        ("max_num_seqs",),
        "max_num_seqs must be at least 1, got 0",
        ["serve", "bundle", "--max-num-seqs", "0"],
        "--max-num-seqs must be at least 1, got 0",
    ),
    "serve two fields": (
        lambda: serve_config(lookup_history=4),
        ("lookup_history", "prompt_lookup"),
        "lookup_history drafts for prompt_lookup; give prompt_lookup K too",
        ["serve", "bundle", "--lookup-history", "4"],
        "--lookup-history drafts for --prompt-lookup; give --prompt-lookup K too",
    ),
    "train num_virtual_tokens (option --prefix-length)": (
        lambda: train_config(num_virtual_tokens=0),
        ("num_virtual_tokens",),
        "num_virtual_tokens must be at least 1, got 0",
        [*TRAIN, "-o", "p.safetensors", "--prefix-length", "0"],
        "--prefix-length must be at least 1, got 0",
    ),
    "train output, a path holding the field's name": (
        lambda: train_config(output=Path("output/output.bin")),
        ("output",),
        "output must name a .safetensors file, got output/output.bin",
        [*TRAIN, "-o", "output/output.bin"],
        "--output must name a .safetensors file, got output/output.bin",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_library_names_the_field_and_the_cli_the_flag(case):
    build, fields, library_message, args, cli_message = CASES[case]
    with pytest.raises(ConfigError) as caught:
        build()
    assert caught.value.fields == fields and str(caught.value) == library_message
    result = CliRunner().invoke(main, args)
    assert_user_error(result.exit_code, result.stderr, cli_message)
    assert result.stderr.strip() == f"error: {cli_message}"
