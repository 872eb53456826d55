"""The steps of the prepared GPU run, each a few subprocesses with a deadline; device.py runs the plan's order.

Standard library only (the steps' own programs import the rest). A step records its commands, their exit codes and
output, and the numbers it reads back from their JSON; a step whose model could not be made is skipped, as is every
step once the budget is spent. The models: "tiny" (made by prepare.py, in the payload) and "smollm2" (made here by
make_model.py from the GGUF); both have the PEFT adapter "peft16" (P = 16) that the PyTorch baseline runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from results import Results

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
CLI = [sys.executable, "-m", "prefixdeploy.cli"]
BASELINE_PREFIX = "peft16"
CAPS = {"preflight": 90, "check": 150, "make": 360, "bench": 180, "torch": 180, "serve": 240}  # seconds per step
SIZES = {
    False: {"prompt": 56, "new": 32, "warmup": 2, "reps": 10},
    True: {"prompt": 8, "new": 4, "warmup": 0, "reps": 1},
}
PREFLIGHT = (
    "import json, onnxruntime as o; print(json.dumps({'onnxruntime': o.__version__, 'file': o.__file__, "
    "'providers': o.get_available_providers()}))"
)


class StepFailed(Exception):
    """A command of the step failed or timed out: the record says which, the log has its output."""


@dataclass
class Context:
    payload: Path  # the unpacked payload
    work: Path  # where made models and JSON results go
    env: dict  # the steps' environment (PYTHONPATH, LD_LIBRARY_PATH, PREFIXDEPLOY_CACHE)
    provider: str  # cuda, or cpu for the dry run
    precision: str  # of bench, torch and serve: fp16 on the GPU
    quick: bool  # few tokens and repetitions
    results: Results
    made: dict = field(default_factory=dict)  # model name -> whether it exists (ready, or made by its step)

    @property
    def sizes(self) -> dict:
        return SIZES[self.quick]


@dataclass
class Step:
    context: Context
    model: dict
    name: str
    deadline: float
    record: dict = field(default_factory=dict)

    def call(self, label: str, command: list[str]) -> str:
        """Run one command until the step's deadline; its stdout and stderr go to the log, its stdout back."""
        left = self.deadline - time.monotonic()
        if left < 5:
            raise StepFailed(f"{label}: no time left")
        start = time.monotonic()
        rc, out, err = run_command(command, self.context.env, left)
        seconds = round(time.monotonic() - start, 1)
        self.record.setdefault("commands", []).append({"label": label, "rc": rc, "seconds": seconds, "stdout": out})
        self.context.results.log(f"{self.model['name']} {self.name} / {label}", command, rc, out + err)
        if rc != 0:
            raise StepFailed(f"{label} exited {rc} after {seconds} s: {(err or out).strip()[-300:]}")
        return out


def run_command(command: list[str], env: dict, timeout: float) -> tuple[int | str, str, str]:
    """(exit code or "timeout", stdout, stderr). The command gets its own process group, so that a timeout also
    ends what it started (serve_load.py's server)."""
    process = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=timeout)
        return process.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        out, err = process.communicate()
        return "timeout", out, err


def paths(model: dict, context: Context) -> dict[str, Path]:
    """bundle, model and adapter: in the payload (made by prepare.py) or under work/NAME (made here)."""
    if "make" in model:
        base = context.work / model["name"]
        return {"bundle": base / "bundle", "model": base / "model", "adapter": base / BASELINE_PREFIX}
    return {key: context.payload / model[key] for key in ("bundle", "model", "adapter")}


def graph_file(bundle: Path, precision: str) -> str:
    """The bundle's ONNX Runtime graph of `precision` (serve, bench and the in-place path run it)."""
    graphs = json.loads((bundle / "manifest.json").read_text())["graphs"]
    files = [g["file"] for g in graphs if g["kind"] == "ort" and g["precision"] == precision]
    if not files:
        raise StepFailed(f"{bundle} has no {precision} ONNX Runtime graph: {[g['file'] for g in graphs]}")
    return files[0]


# -- the steps ------------------------------------------------------------------------------------------------------


def preflight(step: Step) -> dict:
    versions = json.loads(step.call("onnxruntime", [sys.executable, "-c", PREFLIGHT]).strip().splitlines()[-1])
    if step.context.provider == "cuda":
        if "CUDAExecutionProvider" not in versions["providers"]:
            raise StepFailed(f"onnxruntime {versions['onnxruntime']} has no CUDA provider: {versions['providers']}")
        versions["gpu"] = step.call("nvidia-smi", ["nvidia-smi", "-L"]).strip()
    return versions


def check(step: Step) -> dict:
    """`prefixdeploy check` at fp16 (agreement reported) and fp32 (the portable graph on CUDA: must match). Both
    run, and both tables are kept, when the first fails."""
    bundle, provider = paths(step.model, step.context)["bundle"], step.context.provider
    tables, failures = step.record.setdefault("data", {}), []
    for precision in ("fp16", "fp32"):
        command = [*CLI, "check", str(bundle), "--provider", provider, "--precision", precision]
        ran = len(step.record.get("commands", []))
        try:
            tables[precision] = step.call(f"check {precision}", command)
        except StepFailed as e:
            tables[precision] = "".join(c["stdout"] for c in step.record.get("commands", [])[ran:])
            failures.append(str(e))
    if failures:
        raise StepFailed("; ".join(failures))
    return tables


def make(step: Step) -> dict:
    spec, where = step.model["make"], paths(step.model, step.context)
    source = step.context.payload / spec["source"]
    command = [
        sys.executable,
        str(HERE / "make_model.py"),
        "--source",
        str(source),
        "--out",
        str(where["bundle"].parent),
    ]
    command += [arg for prefix in spec.get("prefixes", []) for arg in ("--prefix", prefix)]
    step.call("make_model", command)
    return {"bundle": str(where["bundle"])}


def bench(step: Step) -> dict:
    bundle, sizes = paths(step.model, step.context)["bundle"], step.context.sizes
    out = step.context.work / f"bench-{step.model['name']}.json"
    command = [*CLI, "bench", str(bundle), "--provider", step.context.provider]
    command += ["--graph", graph_file(bundle, step.context.precision), "--json", str(out)]
    command += ["--prompt-length", str(sizes["prompt"]), "--output-length", str(sizes["new"])]
    command += ["--warmup", str(sizes["warmup"]), "--repetitions", str(sizes["reps"])]
    step.call("bench", command)
    return json.loads(out.read_text())


def torch_eager(step: Step) -> dict:
    where, sizes, context = paths(step.model, step.context), step.context.sizes, step.context
    out = context.work / f"torch-{step.model['name']}.json"
    command = [sys.executable, str(HERE / "torch_eager.py"), "--model", str(where["model"])]
    command += ["--adapter", str(where["adapter"]), "--bundle", str(where["bundle"]), "--prefix", BASELINE_PREFIX]
    command += ["--device", "cuda" if context.provider == "cuda" else "cpu", "--provider", context.provider]
    command += ["--precision", context.precision, "--json", str(out)]
    command += ["--prompt-length", str(sizes["prompt"]), "--new-tokens", str(sizes["new"])]
    command += ["--warmup", str(sizes["warmup"]), "--repetitions", str(sizes["reps"])]
    step.call("torch eager", command)
    return json.loads(out.read_text())


def serve(step: Step) -> dict:
    bundle, sizes, context = paths(step.model, step.context)["bundle"], step.context.sizes, step.context
    out = context.work / f"serve-{step.model['name']}.json"
    command = [sys.executable, str(HERE / "serve_load.py"), "--bundle", str(bundle), "--json", str(out)]
    command += ["--provider", context.provider, "--precision", context.precision, "--new-tokens", str(sizes["new"])]
    command += ["--requests", str(8 if context.quick else 32)]
    step.call("serve load", command)
    return json.loads(out.read_text())


STEPS = {"preflight": preflight, "check": check, "make": make, "bench": bench, "torch": torch_eager, "serve": serve}


def run_step(context: Context, model: dict, name: str) -> None:
    record = {"model": model["name"], "step": name}
    if not context.made.get(model["name"], False) and name not in ("make", "preflight"):
        context.results.add(record | {"status": "skipped", "reason": f"model {model['name']} was not made"})
        return
    left = context.results.left()
    if left < 10:
        context.results.add(record | {"status": "skipped", "reason": "out of time (--budget)"})
        return
    step = Step(context, model, name, time.monotonic() + min(CAPS[name], left), record)
    start = time.monotonic()
    try:
        record["data"] = STEPS[name](step)
        record["status"] = "ok"
        if name == "make":
            context.made[model["name"]] = True
    except StepFailed as e:
        record |= {"status": "failed", "error": str(e)}
    except Exception as e:  # a step's own bug must not cost the steps after it
        record |= {"status": "failed", "error": f"{type(e).__name__}: {e}"}
    record["seconds"] = round(time.monotonic() - start, 1)
    context.results.add(record)


def run_plan(plan: dict, context: Context) -> None:
    """The preflight, then the plan's (model, step) pairs in order."""
    models = {m["name"]: m for m in plan["models"]}
    context.made = {name: "make" not in m for name, m in models.items()}
    run_step(context, {"name": "machine"}, "preflight")
    for model, name in plan["order"]:
        run_step(context, models[model], name)
