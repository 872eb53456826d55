"""llama.cpp (through llama-cpp-python) as a system `compare.py` times: the GGUF files of the model, made once, the
greedy runner, and the rows of the report that pair it with prefixdeploy. Bare model (llama.cpp takes no prefix).

GGUFs (cached in `cache_dir("llamacpp")`, keyed by the model's files and the llama-cpp-python version): Q4_1 is the
file SmolLM2 ships as on PyPI (for another `--model`, quantized from F32 like the others); F32 comes from the HF
directory through the sdist's `convert_hf_to_gguf.py`; Q8_0, Q4_0 (and Q4_1 for another model) from
`llama_cpp.llama_model_quantize` of the F32 file, with llama.cpp's default quantization parameters.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import subprocess
import sys
import tarfile
import time
from collections import Counter
from pathlib import Path

from prefixdeploy.bench.measure import RequestTiming
from prefixdeploy.runtime.atomic import atomic_path

log = logging.getLogger("compare")

LLAMA_CPP_VERSION = "0.3.36"  # the pin of `make bench-llamacpp` and the `llamacpp` extra
# Our precision -> the GGUF formats it is compared with.
PAIRS = {"int4": ("Q4_1", "Q4_0"), "int8": ("Q8_0",), "fp32": ("F32",)}
FTYPES = {"Q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0", "Q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1", "Q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0"}
SYSTEM = "llama.cpp"
# Written by `make bench-llamacpp` next to the venv when it builds llama-cpp-python: the CMAKE_ARGS it used.
BUILD_FLAGS_FILE = Path(sys.prefix) / "llama-cpp-build-flags.txt"


def available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def gguf_files(model_dir: Path, formats: list[str], cache: Path, key: str, shipped: Path | None) -> dict[str, Path]:
    """{format: GGUF path} for `formats`, each made once into `cache`. `shipped`: the model's own Q4_1 file, if any."""
    out: dict[str, Path] = {}
    stem = f"{model_dir.name}-{key}-llama-cpp-{LLAMA_CPP_VERSION}"
    f32 = cache / f"{stem}.F32.gguf"
    for fmt in formats:
        if fmt == "Q4_1" and shipped is not None:
            out[fmt] = shipped
            continue
        if not f32.is_file():
            convert_to_f32(model_dir, f32, cache)
        out[fmt] = f32 if fmt == "F32" else quantize(f32, cache / f"{stem}.{fmt}.gguf", fmt)
    return out


def convert_to_f32(model_dir: Path, target: Path, cache: Path) -> Path:
    """The HF directory as an F32 GGUF, through convert_hf_to_gguf.py of the llama-cpp-python sdist (with its own
    gguf-py, which matches the script)."""
    llama_dir = _sdist_llama_dir(cache)
    env = dict(os.environ, PYTHONPATH=str(llama_dir / "gguf-py"))
    with atomic_path(target) as part:
        cmd = [sys.executable, "convert_hf_to_gguf.py", str(model_dir), "--outtype", "f32", "--outfile", str(part)]
        log.info("converting %s to an F32 GGUF (once)", model_dir)
        done = subprocess.run(cmd, cwd=llama_dir, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"convert_hf_to_gguf.py failed: {done.stderr.strip()[-800:]}")
    return target


def _sdist_llama_dir(cache: Path) -> Path:
    """vendor/llama.cpp of the pinned llama-cpp-python sdist (downloaded with pip once, the converter unpacked)."""
    root = cache / f"llama_cpp_python-{LLAMA_CPP_VERSION}"
    llama_dir = root / "vendor" / "llama.cpp"
    if (llama_dir / "convert_hf_to_gguf.py").is_file():
        return llama_dir
    sdist = download_sdist(cache)
    wanted = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/")
    with tarfile.open(sdist) as tar:
        inner = f"{root.name}/vendor/llama.cpp/"
        members = [m for m in tar.getmembers() if m.name.startswith(inner) and m.name[len(inner) :].startswith(wanted)]
        tar.extractall(cache, members=members, filter="data")
    return llama_dir


def download_sdist(cache: Path) -> Path:
    """The pinned llama-cpp-python sdist (its vendor/llama.cpp holds the sources), downloaded with pip once."""
    sdist = cache / f"llama_cpp_python-{LLAMA_CPP_VERSION}.tar.gz"
    if not sdist.is_file():
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
        cmd += [f"llama-cpp-python=={LLAMA_CPP_VERSION}", "-d", str(cache)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0 or not sdist.is_file():
            raise RuntimeError(f"could not download the llama-cpp-python sdist: {done.stderr.strip()[-300:]}")
    return sdist


def quantize(f32: Path, target: Path, fmt: str) -> Path:
    """`f32` quantized to `fmt` with llama.cpp's default parameters (its choice of type per tensor)."""
    if target.is_file():
        return target
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, FTYPES[fmt])
    params.nthread = os.cpu_count() or 1
    log.info("quantizing %s to %s (once)", f32.name, fmt)
    with atomic_path(target) as part:
        status = llama_cpp.llama_model_quantize(str(f32).encode(), str(part).encode(), params)
        if status != 0:
            raise RuntimeError(f"llama_model_quantize to {fmt} failed with status {status}")
    return target


class LlamaCpp:
    """llama.cpp on one GGUF: a request clears the context's cache, evaluates the prompt (the prefill) and then one
    token per step, picking each by argmax over the last logits (greedy, EOS ignored). One thread per core, as ONNX
    Runtime uses; everything else at llama-cpp-python's defaults (flash attention off among them).
    """

    def __init__(self, gguf: Path, prompt: list[int], new_tokens: int):
        from llama_cpp import Llama

        self.gguf, self.prompt, self.new_tokens = gguf, prompt, new_tokens
        threads = os.cpu_count() or 1
        n_ctx = max(256, len(prompt) + new_tokens)
        self.llm = Llama(str(gguf), n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, n_threads_batch=threads,
                         verbose=False)  # fmt: skip
        self.n_vocab = self.llm.n_vocab()

    def run(self) -> tuple[RequestTiming, list[int]]:
        llm = self.llm
        start = time.perf_counter()
        llm.reset()  # n_tokens = 0: the next eval drops the whole cache
        llm.eval(self.prompt)
        tokens = [self._argmax()]
        first = time.perf_counter()
        for _ in range(self.new_tokens - 1):
            llm.eval(tokens[-1:])
            tokens.append(self._argmax())
        last = time.perf_counter()
        return RequestTiming(first - start, last - start, len(tokens)), tokens

    def _argmax(self) -> int:
        """The argmax of the last evaluated token's logits (eval keeps no logits itself unless logits_all)."""
        import llama_cpp
        import numpy as np

        row = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
        return int(np.ctypeslib.as_array(row, shape=(self.n_vocab,)).argmax())  # over (V,) logits

    def weight_bytes(self) -> int:
        """Bytes of every matrix a decode step multiplies by: all 2-D tensors, except the input embedding when the
        model has its own output matrix (then only a Gather reads it); a tied embedding counts once, as lm_head."""
        tensors = _tensors(self.gguf)
        untied = any(t.name == "output.weight" for t in tensors)
        matrices = [t for t in tensors if len(t.shape) >= 2 and not (untied and t.name == "token_embd.weight")]
        return sum(int(t.n_bytes) for t in matrices)

    def close(self) -> None:
        self.llm.close()


def _tensors(gguf: Path):
    from gguf import GGUFReader

    return GGUFReader(str(gguf)).tensors


def tensor_types(gguf: Path) -> str:
    """How many tensors of each type the file holds, e.g. "168 q4_0, 1 q6_k, 61 f32"."""
    counts = Counter(t.tensor_type.name.lower() for t in _tensors(gguf))
    return ", ".join(f"{n} {kind}" for kind, n in counts.most_common())


def build_info() -> dict:
    """llama-cpp-python's version, the CMAKE_ARGS it was built with (if make bench-llamacpp built it) and the CPU
    features the library reports."""
    import llama_cpp

    flags = BUILD_FLAGS_FILE.read_text().strip() if BUILD_FLAGS_FILE.is_file() else None
    return {
        "version": llama_cpp.__version__,
        "cmake_args": flags,
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
    }


def report(entries) -> dict | None:
    """The llama.cpp part of the report (None without llama.cpp rows): build, files, the pairs with prefixdeploy."""
    rows = [e for e in entries if e.system == SYSTEM]
    if not rows:
        return None
    files = {e.precision: {"file": e.detail, "tensor_types": tensor_types(e.runner.gguf)} for e in rows}
    return {"build": build_info(), "files": files, "pairs": pair_ratios(entries)}


def pair_ratios(entries) -> list[dict]:
    """prefixdeploy ÷ llama.cpp for each pair: the ratio of the medians, and the quartiles of the per-round ratios
    (the rounds are interleaved, so round i of both ran side by side)."""
    by = {(e.system, e.precision): e for e in entries}
    out = []
    for ours, formats in PAIRS.items():
        for fmt in formats:
            a, b = by.get(("prefixdeploy", ours)), by.get((SYSTEM, fmt))
            if a is None or b is None:
                continue
            row = {"prefixdeploy": ours, "llama_cpp": fmt}
            for metric in ("tpot", "ttft", "latency"):
                per_round = [getattr(x, metric) / getattr(y, metric) for x, y in zip(a.timings, b.timings)]
                row[metric] = {"ratio": a.median(metric) / b.median(metric), "quartiles": _quartiles(per_round)}
            out.append(row)
    return out


def _quartiles(values: list[float]) -> list[float]:
    import statistics

    return statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3


def token_notes(entries) -> list[str]:
    """Greedy tokens of each GGUF against ONNX Runtime GenAI fp32's: both run the bare model on the same prompt ids."""
    from systems import token_agreement

    ref = next((e for e in entries if (e.system, e.precision) == ("ONNX Runtime GenAI", "fp32")), None)
    out = []
    for e in entries:
        if e.system == SYSTEM and ref is not None and ref.tokens and e.tokens:
            common, same, n = token_agreement(e.tokens, ref.tokens)
            out.append(f"llama.cpp {e.precision}: the first {common} of {n} greedy tokens equal GenAI fp32's "
                       f"({same}/{n} positions equal).")  # fmt: skip
    return out


def render(r: dict | None) -> list[str]:
    """Markdown lines of the llama.cpp section (none without llama.cpp rows)."""
    if r is None:
        return []
    build = r["build"]
    flags = f"`CMAKE_ARGS={build['cmake_args']}`" if build["cmake_args"] else "unknown (not built by make)"
    lines = [
        "",
        "## prefixdeploy ÷ llama.cpp",
        "",
        "Same prompt ids and greedy token count, bare model for llama.cpp (it takes no prefix), P=16 for "
        "prefixdeploy. Ratio of the medians; in brackets the quartiles of the per-round ratios. Below 1: "
        "prefixdeploy is faster.",
        "",
        "| prefixdeploy | llama.cpp | TPOT ratio | TTFT ratio | request latency ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for p in r["pairs"]:
        cells = [f"{p[m]['ratio']:.2f} [{p[m]['quartiles'][0]:.2f}–{p[m]['quartiles'][2]:.2f}]" for m in
                 ("tpot", "ttft", "latency")]  # fmt: skip
        lines.append(f"| {p['prefixdeploy']} | {p['llama_cpp']} | " + " | ".join(cells) + " |")
    lines += ["", f"llama-cpp-python {build['version']}, built with {flags}; the library reports: "
              f"`{build['system_info']}`.", ""]  # fmt: skip
    lines += [f"- `{f['file']}`: {f['tensor_types']}" for f in r["files"].values()]
    return lines
