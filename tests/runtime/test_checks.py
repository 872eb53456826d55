"""Reference cases stored at export and `prefixdeploy check`: they replay here on the CPU, without torch, and a
changed reference, a tampered file, an old bundle or a missing provider each give the documented exit code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_root import ROOT
from test_no_torch import BLOCKED
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.checks import CHECKS_FILE, NEW_TOKENS, CheckConfig, run_checks
from prefixdeploy.runtime.manifest import MANIFEST_NAME, read_manifest, sha256_file


def _check(*args: str):
    result = CliRunner().invoke(main, ["check", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _edit_cases(bundle: Path, edit, rehash: bool = True) -> None:
    path = bundle / CHECKS_FILE
    data = json.loads(path.read_text())
    edit(data["cases"])
    path.write_text(json.dumps(data))
    if rehash:
        manifest = json.loads((bundle / MANIFEST_NAME).read_text())
        manifest["files"][CHECKS_FILE] = sha256_file(path)
        (bundle / MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.fixture
def copy(tiny_bundle, tmp_path):
    return Path(shutil.copytree(tiny_bundle("switchable"), tmp_path / "bundle"))


def test_export_stores_small_hashed_reference_cases(tiny_bundle):
    path = tiny_bundle("switchable")
    manifest = read_manifest(path)
    assert manifest.checks == CHECKS_FILE and manifest.files[CHECKS_FILE] == sha256_file(path / CHECKS_FILE)
    assert (path / CHECKS_FILE).stat().st_size < 32_000
    cases = json.loads((path / CHECKS_FILE).read_text())["cases"]
    assert [c["prefix"] for c in cases] == ["summ", "qa", None]  # every prefix, and none (switchable)
    assert all(len(c["token_ids"]) == len(c["top_ids"]) == NEW_TOKENS for c in cases)
    assert all(c["top_ids"][i][0] == c["token_ids"][i] for c in cases for i in range(NEW_TOKENS))  # greedy


@pytest.mark.parametrize("mode", ["switchable", "baked"])
def test_check_passes_on_the_exporting_machine(tiny_bundle, mode):
    code, out, err = _check(tiny_bundle(mode))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert "fp32: tokens must be equal" in lines[0]
    assert len(lines) == 2 + (3 if mode == "switchable" else 1)
    assert all(f"{NEW_TOKENS}/{NEW_TOKENS}" in line and line.endswith("ok") for line in lines[2:])


def test_portable_graph_reproduces_its_own_logits_exactly(tiny_bundle):
    # The reference comes from the portable graph: the same graph on the same CPU gives the same logits.
    report = run_checks(CheckConfig(bundle=tiny_bundle("switchable"), backend="ort", precision="fp32"))
    assert report.graph == "model.ort.fp32.onnx" and report.ok
    assert max(r.max_abs_diff for r in report.results) < 1e-4


def test_check_runs_without_torch(tiny_bundle):
    block = f"import sys\nfor n in {BLOCKED!r}: sys.modules[n] = None\n"
    code = block + f"from prefixdeploy.cli import main\nmain(['check', {str(tiny_bundle('baked'))!r}])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


def test_a_changed_token_or_logit_is_a_mismatch(copy):
    def change_token(cases):
        cases[0]["token_ids"][3] = (cases[0]["token_ids"][3] + 1) % 300

    _edit_cases(copy, change_token)
    code, out, err = _check(copy)
    assert code == 1 and "does not reproduce" in err
    assert f"{NEW_TOKENS - 1}/{NEW_TOKENS}" in out and "MISMATCH" in out

    def change_logit(cases):
        cases[0]["token_ids"][3] = (cases[0]["token_ids"][3] - 1) % 300
        cases[1]["top_logits"][0][0] += 0.5

    _edit_cases(copy, change_logit)
    code, out, _ = _check(copy)
    assert code == 1 and out.count("MISMATCH") == 1 and "5.00e-01" in out


def test_cases_of_a_removed_prefix_are_skipped(copy):
    assert CliRunner().invoke(main, ["remove-prefix", str(copy), "qa"]).exit_code == 0
    code, out, err = _check(copy)
    assert code == 0, err
    assert "qa/1" in out and "skipped: prefix removed" in out and out.count(" ok") == 2


def test_a_tampered_reference_file_is_a_user_error(copy):
    _edit_cases(copy, lambda cases: cases.pop(), rehash=False)
    assert_user_error(*_check(copy)[::2], "checks/reference.json does not match its manifest hash")


def test_a_bundle_exported_before_checks_still_loads_and_check_says_what_to_do(copy):
    manifest = json.loads((copy / MANIFEST_NAME).read_text())
    del manifest["checks"], manifest["files"][CHECKS_FILE]
    (copy / MANIFEST_NAME).write_text(json.dumps(manifest))
    shutil.rmtree(copy / "checks")
    with load_bundle(copy) as bundle:
        assert bundle.manifest.checks is None
    assert_user_error(*_check(copy)[::2], "has no reference cases", "re-export")


def test_check_options_are_user_errors(tiny_bundle):
    path = tiny_bundle("switchable")
    assert_user_error(*_check(path, "--provider", "cuda")[::2], "onnxruntime-gpu")
    assert_user_error(*_check(path, "--precision", "int4")[::2], "no int4")
    assert_user_error(*_check(path, "--atol", "-1")[::2], "--atol must be ≥ 0")
    assert_user_error(*_check(path.parent / "nope")[::2], "not a bundle directory")


def test_quantized_graph_reports_agreement_without_failing(tiny_model_dir, peft_adapter, tmp_path):
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    spec = (f"summ={peft_adapter('llama', 5, seed=1)}",)
    path = export_bundle(ExportConfig(str(tiny_model_dir("llama")), spec, tmp_path / "b", precisions=("int4",)))
    code, out, err = _check(path, "--precision", "int4")
    assert code == 0, err
    assert "int4 mixed: agreement with the fp32 reference is reported, not required" in out and "info" in out


@pytest.mark.slow
def test_smollm2_sample_bundle_checks_without_torch(tmp_path):
    """The real model with the three sample prefixes, fp32 and int4: `check` replays every case in a subprocess
    where torch cannot import; fp32 must reproduce every token."""
    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    prefixes = tuple(str(p) for p in sorted((ROOT / "samples").glob("*/*.safetensors")))
    config = ExportConfig(str(fetch_smollm2_dir()), prefixes, tmp_path / "smol", precisions=("fp32", "int4"))
    path = export_bundle(config)
    block = f"import sys\nfor n in {BLOCKED!r}: sys.modules[n] = None\nfrom prefixdeploy.cli import main\n"
    outputs = {}
    for precision in ("fp32", "int4"):
        code = block + f"main(['check', {str(path)!r}, '--precision', {precision!r}])"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[precision] = done.stdout.strip().splitlines()
    assert len(outputs["fp32"]) == 2 + 4  # e2e, extract, sentiment, no prefix
    assert all(f"{NEW_TOKENS}/{NEW_TOKENS}" in line and line.endswith("ok") for line in outputs["fp32"][2:])
    assert all(line.endswith("info") for line in outputs["int4"][2:])
