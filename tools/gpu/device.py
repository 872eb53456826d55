"""The GPU machine's side of the prepared run (docs/gpu.md): receive the parts, then reassemble, install and run.

    python3 tools/gpu/device.py receive .gpu/payload.part03
    python3 tools/gpu/device.py run --last .gpu/payload.part06 --out $OUT [--budget 480] [--provider cuda]

`receive` keeps a part in the store (/tmp/prefixdeploy-gpu) and says which parts the store holds; it exits 3 when
an earlier part is missing (the machine was replaced: send every part again). `run` receives the last part,
reassembles and unpacks the payload, installs its wheels with pip --no-deps into STORE/site, and runs the plan's
steps (steps.py) as subprocesses with STORE/site and this checkout first on PYTHONPATH, each within what is left of
--budget seconds. Results go to --out as they come: summary.md, summary.json and log.txt.

Standard library only, like parts.py: it runs with the machine's python3 before anything is installed. On the CPU
here (`--provider cpu --precision fp32 --quick`), tests/tools/test_gpu_run.py runs it as a dry run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from parts import MANIFEST, PartsError, assemble, missing_before, read_manifest, receive  # noqa: E402
from results import Results  # noqa: E402
from steps import Context, run_plan  # noqa: E402

DEFAULT_STORE = Path("/tmp/prefixdeploy-gpu")
# What onnxruntime-gpu 1.31's CUDA provider links (readelf -d), and cuDNN, which it opens when a node needs it.
CUDA_LIBRARIES = ("libcublasLt.so.13", "libcublas.so.13", "libcurand.so.10", "libcudart.so.13", "libcudnn.so.9")
CUDA_ROOTS = ("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu")


def do_receive(part: Path, store: Path) -> int:
    manifest = read_manifest(part.parent / MANIFEST)
    held = receive(part, manifest, store)
    names = [p["name"] for p in manifest["parts"]]
    print(f"receive: {part.name} kept; the store holds {len(held)}/{len(names)} parts: {', '.join(held)}")
    lost = missing_before(manifest, store, part.name)
    if lost:
        print(f"receive: {', '.join(lost)} missing: a fresh machine. Send every part again from the first call.")
        return 3
    return 0


def unpack(store: Path, manifest: dict) -> Path:
    """Reassemble the parts and unpack the payload into STORE/payload (replacing an older one)."""
    payload_tar = assemble(manifest, store, store / "payload.tar")
    target = store / "payload"
    shutil.rmtree(target, ignore_errors=True)
    with tarfile.open(payload_tar) as tar:
        tar.extractall(target, filter="data")
    payload_tar.unlink()
    return target


def install_wheels(wheels: list[Path], site: Path, results: Results) -> bool:
    """pip install --no-deps into `site`, a folder first on the steps' PYTHONPATH (the machine's packages stay)."""
    shutil.rmtree(site, ignore_errors=True)
    if not wheels:
        results.note("install", "no wheels in the payload")
        return True
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    command += ["--no-cache-dir", "--target", str(site), *map(str, wheels)]
    done = subprocess.run(command, capture_output=True, text=True)
    results.note("install", f"{len(wheels)} wheels into {site}: rc {done.returncode}", done.stdout + done.stderr)
    return done.returncode == 0


def cuda_library_dirs() -> tuple[list[str], dict[str, str | None]]:
    """Folders holding the CUDA libraries the provider needs: the machine's pip packages (nvidia/cu13/lib, ...) and
    its CUDA install. ONNX Runtime finds them through LD_LIBRARY_PATH."""
    import site

    roots = [Path(p) / "nvidia" for p in site.getsitepackages()] + [Path(p) for p in CUDA_ROOTS]
    found: dict[str, str | None] = {}
    for name in CUDA_LIBRARIES:
        hit = next((p for root in roots if root.is_dir() for p in root.rglob(name)), None)
        found[name] = str(hit.parent) if hit else None
    return sorted({d for d in found.values() if d}), found


def child_env(store: Path, site: Path, provider: str, results: Results) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])
    env["PREFIXDEPLOY_CACHE"] = str(store / "cache")
    env["PYTHONUNBUFFERED"] = "1"
    if provider != "cpu":
        dirs, found = cuda_library_dirs()
        env["LD_LIBRARY_PATH"] = os.pathsep.join(dirs + [env.get("LD_LIBRARY_PATH", "")]).strip(os.pathsep)
        results.note("cuda libraries", json.dumps(found))
    return env


def do_run(args: argparse.Namespace) -> int:
    results = Results(args.out, args.budget)
    try:
        if args.last is not None:
            receive(args.last, read_manifest(args.last.parent / MANIFEST), args.store)
        manifest = read_manifest(args.manifest or args.last.parent / MANIFEST)
        payload = unpack(args.store, manifest)
    except PartsError as e:
        results.fail("assemble", str(e))
        return 3
    results.note("assemble", f"payload of {manifest['payload']['size']} bytes unpacked into {payload}")
    site = args.store / "site"
    if not install_wheels(sorted((payload / "wheels").glob("*.whl")), site, results):
        results.fail("install", "pip install --no-deps failed; its output is in log.txt")
        return 4
    env = child_env(args.store, site, args.provider, results)
    context = Context(
        payload=payload,
        work=args.store / "work",
        env=env,
        provider=args.provider,
        precision=args.precision,
        quick=args.quick,
        results=results,
    )
    run_plan(json.loads((payload / "plan.json").read_text()), context)
    return results.finish()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    rec = sub.add_parser("receive", help="Keep one part in the store.")
    rec.add_argument("part", type=Path)
    rec.add_argument("--store", type=Path, default=DEFAULT_STORE)
    run = sub.add_parser("run", help="Reassemble, install and run the steps.")
    run.add_argument("--last", type=Path, default=None, help="The last part, carried by this call.")
    run.add_argument("--manifest", type=Path, default=None, help="The parts' manifest (default: beside --last).")
    run.add_argument("--out", type=Path, required=True, help="Where summary.md, summary.json and log.txt go.")
    run.add_argument("--store", type=Path, default=DEFAULT_STORE)
    run.add_argument("--budget", type=float, default=480.0, help="Seconds for the steps; later ones are skipped.")
    run.add_argument("--provider", choices=("cuda", "cpu"), default="cuda")
    run.add_argument("--precision", choices=("fp16", "fp32"), default="fp16", help="Of bench, torch and serve.")
    run.add_argument("--quick", action="store_true", help="Few tokens and repetitions (the CPU dry run).")
    args = parser.parse_args(argv)
    if args.verb == "receive":
        try:
            return do_receive(args.part, args.store)
        except PartsError as e:
            print(f"receive: {e}", file=sys.stderr)
            return 3
    if args.last is None and args.manifest is None:
        parser.error("run needs --last PART or --manifest FILE")
    return do_run(args)


if __name__ == "__main__":
    sys.exit(main())
