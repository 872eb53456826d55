"""benchmarks/compare.py end to end on a tiny model (--quick): every system runs and a RESULTS-like report is
written and printed. Speed itself is never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from repo_root import ROOT

pytest.importorskip("onnxruntime_genai")


def test_compare_quick_writes_a_results_report(tiny_model_dir, peft_adapter, tmp_path):
    out, data = tmp_path / "RESULTS.md", tmp_path / "results.json"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "compare.py"), "--quick", "--precisions", "fp32,int4"]
    cmd += ["--model", str(tiny_model_dir("llama")), "--adapter", str(peft_adapter("llama", 16))]
    cmd += ["--cache", str(tmp_path / "cache"), "--work", str(tmp_path / "work"), "--out", str(out)]
    cmd += ["--json", str(data), "--skip-llamacpp"]  # tests/test_benchmarks_llamacpp.py covers llama.cpp
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    report = out.read_text()
    assert report.strip() in done.stdout  # printed as written
    assert report.startswith("# prefixdeploy vs PyTorch + PEFT vs ONNX Runtime GenAI")
    for needle in ("| PyTorch + PEFT eager | fp32 | 16 |", "| ONNX Runtime GenAI | fp32 | 0 |",
                   "| ONNX Runtime GenAI | int4 | 0 |", "prefixdeploy (`", "## Ratios the issue targets",
                   "GB/s", "OPENBLAS_CORETYPE", "## Machine", "onnxruntime 1.", "onnxruntime-genai 0.",
                   "equal the uncached loop's", "greedy tokens equal PyTorch + PEFT's"):  # fmt: skip
        assert needle in report, needle

    results = json.loads(data.read_text())
    rows = {(r["system"], r["precision"]): r for r in results["results"]}
    assert set(rows) == {
        ("PyTorch + PEFT eager", "fp32"), ("ONNX Runtime GenAI", "fp32"), ("ONNX Runtime GenAI", "int4"),
        ("prefixdeploy", "fp32"), ("prefixdeploy", "int4"),
    }  # fmt: skip
    for row in rows.values():
        assert row["requests"] == 1
        assert 0 < row["time_to_first_token_s"] < row["request_latency_s"]
        assert row["time_per_output_token_s"] > 0 and row["weight_bytes_per_token"] > 0
    # Same weights, same matmul bytes: fp32 graphs agree with each other and with torch's nn.Linear weights.
    fp32 = {rows[k]["weight_bytes_per_token"] for k in rows if k[1] == "fp32"}
    assert len(fp32) == 1
    assert rows[("prefixdeploy", "int4")]["weight_bytes_per_token"] < fp32.pop() / 4
    assert all(r["value"] is not None and r["value"] > 0 for r in results["ratios"].values())
    assert results["bandwidth"]["gb_per_s"] > 0 and results["bandwidth"]["method"]
    assert results["new_tokens"] == 8 and results["prompt_tokens"] == 56
