"""`make edge-check`: bundles exported on x86 must give the same greedy tokens on arm64 (a Debian root under qemu-user).

Phases, each timed: build or reuse the cached arm64 root (root.sh build); export a tiny Llama bundle (switchable and
baked, every precision) and the SmolLM2 sample bundle (fp32, int4) on x86; `pip install .` the runtime-only package
in the root; run every (bundle, graph, prefix, prompt) greedily on x86 and in the root (run_cases.py, the runtime
API alone); compare token ids case by case. Prints the table and every flip with its margins, writes them with the
JSON report to --out, and exits 1 on a divergence (any flip at fp32; at fp16, int8 and int4 a flip wider than the
precision's kernels move, see compare.KERNEL_MOVES) or if the arm64 side did not run aarch64 code (2 if the root
cannot be built, its tools cannot be installed, or it cannot be entered).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tests"), str(REPO / "samples")]

from compare import build_report, check_arm_platform, compare_runs, format_flips, format_table  # noqa: E402

ROOT_SH = HERE / "root.sh"
RUNTIME_PINS = ("numpy", "onnxruntime", "tokenizers", "safetensors")  # the root gets the host's versions
TINY_PRECISIONS = ("fp32", "fp16", "int8", "int4")
SMOLLM2_PRECISIONS = ("fp32", "int4")
TINY_PROMPTS = ["hello world, how are", "the quick brown fox"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "edge-out", help="Directory for the table and report.")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--smollm2-prompts", type=int, default=1, help="Demo inputs per sample prefix (0: skip).")
    parser.add_argument("--smollm2-portable", action="store_true", help="Also run SmolLM2's portable graph.")
    return parser.parse_args(argv)


def cpu_seconds() -> float:
    """CPU time of this process and its finished children: on a shared machine, less noisy than wall time."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Phases:
    """Wall and CPU time per phase, in seconds."""

    def __init__(self):
        self.seconds: dict[str, dict[str, float]] = {}

    @contextmanager
    def timed(self, name: str):
        wall, cpu = time.perf_counter(), cpu_seconds()
        print(f"[edge] {name} ...", flush=True)
        yield
        spent = {"wall": round(time.perf_counter() - wall, 1), "cpu": round(cpu_seconds() - cpu, 1)}
        self.seconds[name] = spent
        print(f"[edge] {name}: {spent['wall']:.1f} s wall, {spent['cpu']:.1f} s CPU", flush=True)


def root_sh(*args: str) -> str:
    """Run root.sh; its last stdout line back. Its own errors (no root, no tools) end the check with exit 2."""
    done = subprocess.run(["bash", str(ROOT_SH), *args], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit(2)
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


# -- bundles -------------------------------------------------------------------------------------------------------


def export_tiny(bundles: Path) -> list[tuple[Path, list[str]]]:
    """A tiny random Llama (GQA) with two PEFT adapters, built as tests/tiny_models.py builds them for the tests."""
    from tiny_models import make_peft_adapter, make_tiny_model

    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    scratch = bundles.parent / "tiny-sources"
    shutil.rmtree(scratch, ignore_errors=True)
    model = make_tiny_model("llama", scratch / "model")
    specs = (f"summ={make_peft_adapter(model, scratch / 'summ', 5, seed=1)}",)
    specs += (f"qa={make_peft_adapter(model, scratch / 'qa', 9, projection=True, seed=2)}",)
    made = []
    for mode, prefixes in (("switchable", specs), ("baked", specs[:1])):
        config = ExportConfig(str(model), prefixes, bundles / f"tiny-{mode}", mode=mode, precisions=TINY_PRECISIONS)
        made.append((export_bundle(config), TINY_PROMPTS))
    return made


def export_smollm2(bundles: Path, prompts_per_prefix: int) -> list[tuple[Path, dict[str, list[str]]]]:
    """The SmolLM2 sample bundle: the three sample prefixes on SmolLM2-135M-Instruct, fp32 and int4."""
    from demo import INPUTS, SAMPLE_PREFIXES

    from prefixdeploy.exporter.export import ExportConfig, export_bundle
    from prefixdeploy.exporter.fetch import fetch_smollm2_dir

    config = ExportConfig(
        str(fetch_smollm2_dir()), SAMPLE_PREFIXES, bundles / "smollm2", force=True, precisions=SMOLLM2_PRECISIONS
    )
    return [(export_bundle(config), {name: inputs[:prompts_per_prefix] for name, inputs in INPUTS.items()})]


def plan_graphs(bundle: Path, work: Path, prompts, portable: bool = True) -> list[dict]:
    """One plan entry per graph of the bundle; its cases: every prefix (and none, if switchable) × its prompts."""
    from prefixdeploy.runtime.manifest import read_manifest

    manifest = read_manifest(bundle)
    names = [p.name for p in manifest.prefixes] + ([None] if manifest.mode == "switchable" else [])
    graphs = []
    for graph in manifest.graphs:
        if graph.kind == "portable" and not portable:
            continue
        label = graph.precision if graph.kind == "ort" else f"{graph.precision} portable"
        cases = [
            {"id": f"{bundle.name}|{label}|{name}|{i}", "prefix": name, "prompt": prompt, "prompt_index": i}
            for name in names
            for i, prompt in enumerate(prompts if isinstance(prompts, list) else prompts.get(name, []))
        ]
        entry = {"bundle": bundle.name, "mode": manifest.mode, "label": label, "file": graph.file}
        graphs.append(entry | {"bundle_dir": str(bundle.relative_to(work)), "cases": cases})
    return graphs


def export_all(work: Path, args: argparse.Namespace) -> dict:
    bundles = work / "bundles"
    shutil.rmtree(bundles, ignore_errors=True)
    graphs = [g for bundle, prompts in export_tiny(bundles) for g in plan_graphs(bundle, work, prompts)]
    if args.smollm2_prompts > 0:
        for bundle, prompts in export_smollm2(bundles, args.smollm2_prompts):
            graphs += plan_graphs(bundle, work, prompts, portable=args.smollm2_portable)
    return {"max_new_tokens": args.max_new_tokens, "graphs": graphs}


# -- running and comparing -----------------------------------------------------------------------------------------


def write_constraints(path: Path) -> Path:
    path.write_text("".join(f"{name}=={importlib.metadata.version(name)}\n" for name in RUNTIME_PINS))
    return path


def run_side(command: list[str], work: Path, out_name: str) -> dict:
    # This checkout's runtime on x86 too (the root has it installed), whatever the venv's editable install points to.
    subprocess.run(command, check=True, env=os.environ | {"PYTHONPATH": str(REPO)})
    return json.loads((work / out_name).read_text())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = Phases()
    with phases.timed("arm64 root (build or cache)"):
        root = Path(root_sh("build"))
    work = root / "work"
    work.mkdir(exist_ok=True)
    shutil.copy(HERE / "run_cases.py", work / "run_cases.py")
    with phases.timed("export on x86"):
        plan = export_all(work, args)
        (work / "plan.json").write_text(json.dumps(plan, indent=1))
    with phases.timed("pip install . in the root"):
        root_sh("install", str(REPO), str(write_constraints(work / "constraints.txt")))
    with phases.timed("run on x86"):
        x86 = run_side(
            [sys.executable, str(work / "run_cases.py"), str(work / "plan.json"), str(work), str(work / "x86.json")],
            work,
            "x86.json",
        )
    with phases.timed("run on arm64 (qemu-user)"):
        arm_command = ["bash", str(ROOT_SH), "exec", "python", "/work/run_cases.py", "/work/plan.json", "/work"]
        arm = run_side([*arm_command, "/work/arm64.json"], work, "arm64.json")
    return report(compare_runs(plan, x86, arm), {"x86": x86["platform"], "arm64": arm["platform"]}, phases, args.out)


def report(rows, platforms: dict, phases: Phases, out: Path) -> int:
    table, flips = format_table(rows), format_flips(rows)
    problems = check_arm_platform(platforms["arm64"])
    summary = build_report(rows, platforms, phases.seconds) | {"platform_problems": problems}
    out.mkdir(parents=True, exist_ok=True)
    (out / "edge-check.json").write_text(json.dumps(summary, indent=1))
    (out / "edge-check.md").write_text("\n\n".join(filter(None, [table, "\n".join(flips)])) + "\n")
    print(table)
    for side, info in platforms.items():
        print(f"{side}: {json.dumps(info)}")
    print("phases (s, wall/CPU): " + ", ".join(f"{k} {v['wall']}/{v['cpu']}" for k, v in phases.seconds.items()))
    for problem in problems:
        print(f"edge-check: {problem}", file=sys.stderr)
    for flip in flips:
        print(f"edge-check: {flip}")
    differ, diverged = sum(not r.same for r in rows), summary["divergences"]
    print(f"edge-check: {len(rows) - differ}/{len(rows)} cases give the same tokens on arm64; report in {out}")
    print(f"edge-check: {differ - diverged} near-ties within the kernels' bounds, {diverged} divergences")
    return 1 if diverged or problems else 0


if __name__ == "__main__":
    sys.exit(main())
