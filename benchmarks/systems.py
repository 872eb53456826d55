"""The systems `compare.py` times, each behind one small surface: build/load once, then `run()` one request.

Every request is the same: one prompt of fixed token ids, greedy, exactly `new_tokens` new tokens (EOS ignored),
batch 1. `run()` returns a RequestTiming (TTFT: the call until the first token; latency: until the last) and the
new token ids.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from prefixdeploy.bench.measure import RequestTiming

log = logging.getLogger("compare")


class TorchPeft:
    """PyTorch + PEFT, eager (fp32 on the CPU by default; tools/gpu/torch_eager.py runs it at fp16 on a GPU), with
    the prefix: a manual greedy loop with the KV cache, the first step through PeftModel.forward().

    PEFT's generate() dropped the prefix with peft 0.21 + transformers 5.x (fixed in 0.22; see
    tests/exporter/test_peft_reference.py), so it is not used. PEFT's forward() always passes the prefix as the cache
    (and prepends P ones to the attention mask), overwriting any cache given, so only the first step goes through it;
    from the second step on, the base model continues the cache that step returned (the prefix and every earlier token),
    with a mask over P + all tokens, as PEFT's own generation does. The cache argument is `cache` in recent transformers
    and `past_key_values` before (5.17 on the GPU machine).
    """

    def __init__(
        self,
        model_dir: Path,
        adapter_dir: Path,
        prompt: list[int],
        new_tokens: int,
        device: str = "cpu",
        dtype: str = "float32",
    ):
        import torch
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        self.torch, self.prompt, self.new_tokens, self.device = torch, prompt, new_tokens, device
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype)).eval()
        model = PeftModel.from_pretrained(base, adapter_dir)
        self.model = model.to(device=device, dtype=getattr(torch, dtype)).eval()  # the prefix encoder too
        self.base = self.model.get_base_model()
        self.P = self.model.active_peft_config.num_virtual_tokens
        self.cache_arg = "cache" if "cache" in inspect.signature(self.base.forward).parameters else "past_key_values"
        self.threads = torch.get_num_threads()

    def run(self) -> tuple[RequestTiming, list[int]]:
        torch, device = self.torch, self.device
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # transformers warns that PEFT passes the cache by its deprecated name
            start = time.perf_counter()
            ids, tokens, cache, first, last = torch.tensor([self.prompt], device=device), [], None, 0.0, 0.0
            for _ in range(self.new_tokens):
                if cache is None:  # PEFT: the prefix is the cache; its mask covers the real tokens only
                    mask = torch.ones(1, len(self.prompt), dtype=torch.long, device=device)
                    out = self.model(input_ids=ids, attention_mask=mask, use_cache=True)
                else:
                    mask = torch.ones(1, self.P + len(self.prompt) + len(tokens), dtype=torch.long, device=device)
                    out = self.base(input_ids=ids, attention_mask=mask, use_cache=True, **{self.cache_arg: cache})
                cache = out.cache if getattr(out, "cache", None) is not None else out.past_key_values
                tokens.append(int(out.logits[0, -1].argmax()))  # int(): waits for the device
                last = time.perf_counter()
                first = first or last
                ids = torch.tensor([[tokens[-1]]], device=device)
        return RequestTiming(first - start, last - start, len(tokens)), tokens

    def uncached_tokens(self) -> list[int]:
        """The same greedy loop recomputing the whole sequence each step (no cache): the reference for `run`."""
        torch = self.torch
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            seq, tokens = torch.tensor([self.prompt], device=self.device), []
            for _ in range(self.new_tokens):
                logits = self.model(input_ids=seq, attention_mask=torch.ones_like(seq)).logits
                tokens.append(int(logits[0, -1].argmax()))
                seq = torch.cat([seq, torch.tensor([[tokens[-1]]], device=self.device)], dim=1)
        return tokens

    def weight_bytes(self) -> int:
        from membw import torch_weight_bytes

        return torch_weight_bytes(self.model)


class GenAI:
    """ONNX Runtime GenAI on a model its own builder made (no prefix: GenAI has none). A request creates an
    og.Generator (it allocates the KV buffers), appends the prompt (the prefill) and generates token by token;
    min_length = max_length keeps it from stopping at EOS.
    """

    def __init__(self, model_dir: Path, prompt: list[int], new_tokens: int):
        import onnxruntime_genai as og

        self.og, self.dir, self.prompt, self.new_tokens = og, model_dir, prompt, new_tokens
        self.model = og.Model(str(model_dir))
        self.setup: list[float] = []  # seconds per request to create the generator (part of its TTFT)

    def run(self) -> tuple[RequestTiming, list[int]]:
        og, total = self.og, len(self.prompt) + self.new_tokens
        start = time.perf_counter()
        params = og.GeneratorParams(self.model)
        params.set_search_options(max_length=total, min_length=total, do_sample=False)
        generator = og.Generator(self.model, params)
        self.setup.append(time.perf_counter() - start)
        generator.append_tokens(self.prompt)
        generator.generate_next_token()
        first = time.perf_counter()
        for _ in range(self.new_tokens - 1):
            generator.generate_next_token()
        last = time.perf_counter()
        tokens = generator.get_sequence(0)[len(self.prompt) :].tolist()
        return RequestTiming(first - start, last - start, len(tokens)), tokens

    def weight_bytes(self) -> int:
        from membw import matmul_weight_bytes

        return matmul_weight_bytes(self.dir / "model.onnx")


def model_key(model_dir: Path) -> str:
    """A short key of the model directory's files (names, sizes, modification times): what is built from it is
    cached under this key."""
    key = hashlib.sha256()
    for f in sorted(model_dir.iterdir()):
        if f.is_file():
            key.update(f"{f.name}:{f.stat().st_size}:{f.stat().st_mtime_ns}".encode())
    return key.hexdigest()[:12]


def build_genai(model_dir: Path, precision: str, cache: Path) -> Path:
    """GenAI's model for `model_dir` at `precision`, built once with its builder into `cache` (keyed by the model's
    files and the GenAI version)."""
    import onnxruntime_genai as og

    out = cache / f"genai-{og.__version__}-{model_dir.name}-{model_key(model_dir)}-{precision}"
    if (out / "genai_config.json").is_file():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=cache))
    try:
        cmd = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(model_dir), "-o", str(tmp / "m")]
        cmd += ["-p", precision, "-e", "cpu", "-c", str(tmp / "hf-cache")]
        log.info("building the GenAI %s model (once): %s", precision, " ".join(cmd))
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"the GenAI builder failed ({precision}): {done.stderr.strip()[-500:]}")
        os.replace(tmp / "m", out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


class Prefixdeploy:
    """prefixdeploy's runtime (the public API only) on one graph of an exported bundle, with the prefix."""

    def __init__(self, bundle_dir: Path, graph: str, prefix: str, prompt: list[int], new_tokens: int):
        from prefixdeploy.runtime.bundle import load_bundle
        from prefixdeploy.runtime.generate import GenerationConfig

        self.dir, self.graph, self.prefix, self.prompt = bundle_dir, graph, prefix, prompt
        self.config = GenerationConfig(max_new_tokens=new_tokens, ignore_eos=True)  # greedy
        self.bundle = load_bundle(bundle_dir, graph=graph)

    def run(self) -> tuple[RequestTiming, list[int]]:
        start = time.perf_counter()
        tokens, first, last = [], 0.0, 0.0
        for step in self.bundle.steps([self.prompt], [self.prefix], self.config):
            last = time.perf_counter()
            first = first or last
            tokens.append(int(step.tokens[0]))
        return RequestTiming(first - start, last - start, len(tokens)), tokens

    def weight_bytes(self) -> int:
        from membw import matmul_weight_bytes

        return matmul_weight_bytes(self.dir / self.graph)

    def close(self) -> None:
        self.bundle.close()


def export_bundles(
    model_dir: Path, adapter: Path, precisions: list[str], work: Path, reuse: bool = False
) -> tuple[dict, list[str]]:
    """Export with `prefixdeploy export --precision ...`: {precision: (bundle, graph file)} and notes on the ones
    skipped. One export for all precisions; if the CLI refuses that, one per precision, skipping those it refuses.
    reuse: take the one export an earlier call left in `work` if it is there.
    """
    notes: list[str] = []
    bundle = work / "bundle-all"
    if reuse and (bundle / "manifest.json").is_file():
        log.info("reusing the bundle exported earlier: %s", bundle)
        return {p: (bundle, g) for p in precisions if (g := _graph_for(bundle, p))}, notes
    done = _export(model_dir, adapter, precisions, bundle)
    if done.returncode == 0:
        exported = {p: bundle for p in precisions}
    else:
        exported = {}
        for p in precisions:
            one = work / f"bundle-{p}"
            result = _export(model_dir, adapter, [p], one)
            if result.returncode == 0:
                exported[p] = one
            else:
                notes.append(f"prefixdeploy {p}: skipped, `prefixdeploy export --precision {p}` refused: "
                             f"{_last_line(result.stderr)}")  # fmt: skip
    out = {}
    for p, path in exported.items():
        graph = _graph_for(path, p)
        if graph is None:
            notes.append(f"prefixdeploy {p}: skipped, the exported bundle has no {p} graph")
        else:
            out[p] = (path, graph)
    return out, notes


def _export(model_dir: Path, adapter: Path, precisions: list[str], out: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "prefixdeploy.cli", "export", "--model", str(model_dir)]
    cmd += ["--prefix", f"demo={adapter}", "-o", str(out), "--force"]
    for p in precisions:
        cmd += ["--precision", p]
    log.info("exporting: %s", " ".join(cmd))
    return subprocess.run(cmd, capture_output=True, text=True)


def _graph_for(bundle: Path, precision: str) -> str | None:
    """The bundle's graph at `precision`: the ONNX Runtime variant if there is one, else the portable graph."""
    from prefixdeploy.runtime.manifest import read_manifest

    graphs = [g for g in read_manifest(bundle).graphs if g.precision == precision]
    graphs.sort(key=lambda g: g.kind != "ort")
    return graphs[0].file if graphs else None


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no message)"


def token_agreement(tokens: list[int], ref: list[int]) -> tuple[int, int, int]:
    """(length of the common start, positions equal, len(ref)) of two greedy token sequences."""
    n = len(ref)
    common = next((i for i, (a, b) in enumerate(zip(tokens, ref)) if a != b), n)
    return common, sum(a == b for a, b in zip(tokens, ref)), n
