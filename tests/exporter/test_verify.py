"""`prefixdeploy verify`: every graph and prefix against the PyTorch reference; exit 1 when an fp32 graph differs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from tiny_models import make_tiny_model

from prefixdeploy.cli import main
from prefixdeploy.exporter.export import ExportConfig, export_bundle

PROMPTS = ["--prompt", "hello world", "--prompt", "the cat sat on the"]


@pytest.fixture(scope="module")
def bundle(tiny_model_dir, peft_adapter, tmp_path_factory):
    specs = (f"short={peft_adapter('llama', 5, seed=1)}", f"long={peft_adapter('llama', 9, True, 2)}")
    out = tmp_path_factory.mktemp("verify") / "bundle"
    return export_bundle(ExportConfig(str(tiny_model_dir("llama")), specs, out, precisions=("fp32", "int8")))


def verify(*args) -> tuple[int, list[str], str]:
    result = CliRunner().invoke(main, ["verify", *map(str, args), *PROMPTS, "--new-tokens", "8"])
    return result.exit_code, result.stdout.splitlines(), result.stderr


def test_verify_passes_fp32_graphs_and_reports_quantized_ones(bundle, tiny_model_dir):
    code, lines, err = verify(bundle, "--model", tiny_model_dir("llama"))
    assert code == 0, err
    rows = {tuple(line.split()[:3]): line for line in lines[2:-2]}
    graphs = {("model.ort.fp32.onnx", "fp32"), ("model.onnx", "fp32"), ("model.ort.int8.onnx", "int8")}
    assert set(rows) == {(g, p, n) for g, p in graphs for n in ("short", "long")}
    for (_, precision, _), line in rows.items():
        assert line.endswith("ok" if precision == "fp32" else "reported"), line
        if precision == "fp32":
            # 2 prompts × 8 greedy tokens, all equal to the reference's: free-running and teacher-forced
            assert line.split()[4:7] == ["16/16", "100.0%", "100.0%"], line
    assert lines[-2].startswith("greedy agreement: free-running tokens equal to")
    assert lines[-1].startswith("perplexity: the --text sample scored without a prefix; reference perplexity (PyTorch")


def test_verify_against_other_weights_exits_1(bundle, tmp_path):
    other = make_tiny_model("llama", tmp_path / "other", seed=7)  # same geometry, other weights
    code, lines, err = verify(bundle, "--model", other)
    assert code == 1
    assert "MISMATCH" in "\n".join(lines)
    assert err.strip() == "verify: the bundle does not match the reference"


def test_verify_rejects_zero_new_tokens(bundle, tiny_model_dir):
    result = CliRunner().invoke(
        main, ["verify", str(bundle), "--model", str(tiny_model_dir("llama")), "--new-tokens", "0"]
    )
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["error: --new-tokens must be at least 1, got 0"]


def test_verify_refuses_a_perplexity_sample_too_short_to_score(bundle, tiny_model_dir, tmp_path):
    text = tmp_path / "empty.txt"
    text.write_text("")
    code, _, err = verify(bundle, "--model", tiny_model_dir("llama"), "--text", text)
    assert code == 2
    (line,) = err.strip().splitlines()
    assert line.startswith("error: the perplexity sample (--text) needs at least 2 tokens; it has "), line
