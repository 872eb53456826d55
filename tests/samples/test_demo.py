"""The demo's steps (export three prefixes into one bundle, run each, mixed batch, benchmark, plot) on a tiny model.

The real run (SmolLM2-135M-Instruct, the committed sample prefixes) is `make demo`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_steps_on_a_tiny_model(tiny_model_dir, peft_adapter, tmp_path):
    model = tiny_model_dir("llama")
    prefixes = [
        f"{task}={peft_adapter('llama', P, seed=P)}" for task, P in (("sentiment", 3), ("extract", 5), ("e2e", 7))
    ]
    args = [
        sys.executable,
        ROOT / "samples" / "demo.py",
        "--model",
        model,
        "--out",
        tmp_path,
        "--repetitions",
        1,
        "--max-new-tokens",
        8,
    ]
    args += [a for p in prefixes for a in ("--prefix", p)] + ["--precision", "fp32", "--precision", "int8"]
    done = subprocess.run(list(map(str, args)), capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout

    for task in ("sentiment", "extract", "e2e"):
        assert f"[{task}]" in out
    assert "Yesterday Ingrid Solberg took the night train to Trondheim." in out  # the extract inputs were run
    assert "[one batch, a different prefix per row]" in out

    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text())
    assert sorted(p["name"] for p in manifest["prefixes"]) == ["e2e", "extract", "sentiment"]
    assert [g["precision"] for g in manifest["graphs"]][:2] == ["fp32", "int8"]

    report = json.loads((tmp_path / "bench.json").read_text())
    measured = {r["name"] for r in report["results"] if r["status"] == "ok"}
    assert {"prefix sentiment", "prefix extract", "prefix e2e", "no prefix"} <= measured
    assert (tmp_path / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_reports_a_bad_prefix_in_one_line(tiny_model_dir, tmp_path):
    missing = tmp_path / "nope.safetensors"
    args = [sys.executable, ROOT / "samples" / "demo.py", "--model", tiny_model_dir("llama"), "--out", tmp_path / "o"]
    done = subprocess.run(list(map(str, args + ["--prefix", f"x={missing}"])), capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2
    assert done.stderr.startswith("demo: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "o" / "bundle").exists()
