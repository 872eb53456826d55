"""A static type check of the TensorRT backend against the TensorRT 10.x API (mypy over the vendored stub).

TensorRT cannot be installed here, so nothing else would notice a misspelled or removed TensorRT call before a
Jetson does. pyproject.toml's [tool.mypy] names the modules and typings/tensorrt the stub (its header says where it
comes from and what was fixed in it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_trt_backend_type_checks_against_the_tensorrt_stub(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues found in 6 source files" in result.stdout, result.stdout  # the trt package, all of it
