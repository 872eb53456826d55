"""The runtime must load a bundle and generate where torch, transformers, peft and onnx cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys

from repo_root import ROOT

BLOCKED = ("torch", "transformers", "peft", "onnx", "jinja2")

SCRIPT = """
import sys, json
for name in {blocked!r}:
    sys.modules[name] = None  # any `import name` now raises ImportError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.constraints import Constraint
from prefixdeploy.runtime.generate import GenerationConfig
with load_bundle({bundle!r}) as b:
    out = b.generate(["the quick brown fox", "hello"], ["summ", "qa"], GenerationConfig(max_new_tokens=8))
    streamed = list(b.stream("hello", "qa", GenerationConfig(max_new_tokens=8)))
    choice = GenerationConfig(max_new_tokens=8, constraint=Constraint.choice(["yes", "no"]))  # llguidance: no torch
    assert b.generate(["hello"], ["qa"], choice)[0].text in ("yes", "no")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
print(json.dumps({{"tokens": [g.token_ids for g in out], "streamed": streamed, "heavy": heavy}}))
"""


def test_runtime_generates_without_heavy_packages(tiny_bundle):
    bundle = str(tiny_bundle("switchable"))
    code = SCRIPT.format(blocked=BLOCKED, bundle=bundle)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["heavy"] == []
    assert all(len(t) >= 1 for t in result["tokens"])
    assert result["streamed"] == result["tokens"][1][: len(result["streamed"])]


def test_cli_help_and_run_without_heavy_packages(tiny_bundle):
    bundle = str(tiny_bundle("switchable"))
    block = f"import sys\nfor n in {BLOCKED!r}: sys.modules[n] = None\n"
    for args in (["--help"], ["run", bundle, "hello", "--prefix", "summ", "--max-new-tokens", "4", "--json"]):
        code = block + f"from prefixdeploy.cli import main\nmain({args!r})"
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
        assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["prefix"] == "summ"


LAZY_API = """
import sys, json
import prefixdeploy
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {{"prefixdeploy", "numpy", "onnxruntime", *{blocked!r}}})
from prefixdeploy import GenerationConfig, load_bundle
from prefixdeploy.runtime.bundle import load_bundle as runtime_load_bundle
with load_bundle({bundle!r}) as b:
    out = b.generate(["hello"], ["qa"], GenerationConfig(max_new_tokens=4))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
try:
    prefixdeploy.no_such_name
    missing = None
except AttributeError as e:
    missing = str(e)
same = load_bundle is runtime_load_bundle
listed = {{"load_bundle", "GenerationConfig"}} <= set(dir(prefixdeploy))
result = dict(loaded=loaded, heavy=heavy, tokens=out[0].token_ids, same=same, listed=listed, missing=missing)
print(json.dumps(result))
"""


def test_the_package_root_re_exports_the_runtime_lazily(tiny_bundle):
    """`from prefixdeploy import load_bundle, GenerationConfig` works; `import prefixdeploy` alone loads nothing
    more, and using the names loads no torch, transformers, peft or onnx (nothing is blocked here: none is asked for).
    """
    code = LAZY_API.format(blocked=BLOCKED, bundle=str(tiny_bundle("switchable")))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["loaded"] == ["prefixdeploy"]
    assert result["heavy"] == []
    assert len(result["tokens"]) >= 1 and result["same"] and result["listed"]
    assert result["missing"] == "module 'prefixdeploy' has no attribute 'no_such_name'"
