"""Run a plan of greedy cases with the runtime alone and write tokens + top logits per step as JSON.

The same file runs on the x86 host and inside the arm64 root (under qemu-user), so it imports only the standard
library, numpy and prefixdeploy's runtime (no torch). Usage: run_cases.py PLAN.json WORK_DIR OUT.json
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

TOP_K = 5  # logits kept per step: enough to measure the margin at a first differing step
ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64"}
# getauxval bits (Linux arm64 <asm/hwcap.h>): which ONNX Runtime (MLAS) kernel families this CPU offers.
HWCAP_BITS = {"fphp": 9, "asimdhp": 10, "asimddp": 20, "sve": 22}
HWCAP2_BITS = {"sve2": 1, "i8mm": 13, "bf16": 14}
AT_HWCAP, AT_HWCAP2 = 16, 26


def wheel_tags(package: str) -> list[str]:
    """The tags in the installed wheel's WHEEL file, e.g. ['cp311-cp311-manylinux_2_27_aarch64']."""
    text = importlib.metadata.distribution(package).read_text("WHEEL") or ""
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Tag:")]


def native_machine(module) -> str:
    """The ELF machine of the native extension `module` really loaded (not what pip says it installed)."""
    capi = Path(module.__file__).parent / "capi"
    library = next(capi.glob("onnxruntime_pybind11_state*.so"))
    header = library.read_bytes()[:20]
    return ELF_MACHINES.get(int.from_bytes(header[18:20], "little"), f"e_machine {header[18:20].hex()}")


def cpu_features() -> list[str]:
    """arm64 feature flags from the auxiliary vector (what qemu's CPU model offers); empty on x86."""
    if platform.machine() != "aarch64":
        return []
    getauxval = ctypes.CDLL(None).getauxval
    getauxval.restype = ctypes.c_ulong
    hwcap, hwcap2 = getauxval(AT_HWCAP), getauxval(AT_HWCAP2)
    return [n for n, b in HWCAP_BITS.items() if hwcap >> b & 1] + [n for n, b in HWCAP2_BITS.items() if hwcap2 >> b & 1]


def describe_platform() -> dict:
    import onnxruntime

    return {
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "onnxruntime_wheel": wheel_tags("onnxruntime"),
        "onnxruntime_native": native_machine(onnxruntime),
        "numpy": np.__version__,
        "tokenizers": importlib.metadata.version("tokenizers"),
        "cpu_features": cpu_features(),
    }


def top_logits(logits: np.ndarray) -> list[list[float]]:
    """[[token id, logit], ...] of the TOP_K highest logits of (V,), highest first."""
    ids = np.argpartition(-logits, TOP_K)[:TOP_K]  # (TOP_K,)
    ids = ids[np.argsort(-logits[ids], kind="stable")]
    return [[int(i), float(logits[i])] for i in ids]


def run_case(bundle, case: dict, config) -> dict:
    prompt_ids = bundle.encode(case["prompt"])
    start = time.perf_counter()
    tokens, top = [], []
    for step in bundle.steps([prompt_ids], [case["prefix"]], config):
        tokens.append(int(step.tokens[0]))
        top.append(top_logits(step.logits[0]))
    return {"id": case["id"], "tokens": tokens, "top": top, "seconds": time.perf_counter() - start}


def run_plan(plan: dict, work: Path) -> dict:
    """Every case of the plan, grouped by graph so that each session is built once."""
    from prefixdeploy.runtime.bundle import load_bundle
    from prefixdeploy.runtime.generate import GenerationConfig

    config = GenerationConfig(max_new_tokens=plan["max_new_tokens"], ignore_eos=True)  # greedy
    results = []
    for graph in plan["graphs"]:
        with load_bundle(work / graph["bundle_dir"], graph=graph["file"]) as bundle:
            results += [run_case(bundle, case, config) for case in graph["cases"]]
    return {"platform": describe_platform(), "results": results}


def main(argv: list[str]) -> int:
    plan_file, work, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    report = run_plan(json.loads(plan_file.read_text()), work)
    out.write_text(json.dumps(report))
    info = report["platform"]
    cases = len(report["results"])
    print(f"{info['machine']}: onnxruntime {info['onnxruntime']} {info['onnxruntime_wheel']}, {cases} cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
