"""SERVING-PEERS.md, .json and .png from `serving_peers.py`'s measurements: the table, the issue's target ratios (each
from this one run), and tokens/s against clients per server."""

from __future__ import annotations

import json
import os
import platform

OURS = "prefixdeploy"
# (our row, the peer row it must beat, the factor): issue 18's pairings.
PAIRS = [
    (f"{OURS} int4", "llama-server Q4_0", 1.1),
    (f"{OURS} int4 mixed-dynamic", "llama-server Q4_0", 1.1),  # the int4 recipe for batches (docs/quantization.md)
    (f"{OURS} int4 + int8 dynamic", "llama-server Q4_0", 1.1),  # int4 alone, int8 dynamic for prompts and batches
    (f"{OURS} int4", "llama-server Q4_1", 1.1),
    (f"{OURS} int8", "llama-server Q8_0", 1.1),
    (f"{OURS} int8 dynamic", "llama-server Q8_0", 1.1),  # the int8 recipe for batches (docs/quantization.md)
    (f"{OURS} fp32", "llama-server F32", 1.1),
    (f"{OURS} fp32", "vLLM CPU float32", 1.1),
]


def ratio(rows: dict, ours: str, peer: str, key: str) -> float | None:
    a, b = rows.get(ours, {}).get(key), rows.get(peer, {}).get(key)
    return a / b if a and b else None


def targets(rows: dict, levels: list[int]) -> list[tuple[str, float | None, str, bool | None]]:
    """(what, the measured ratio, the target, met) for every target of the issue that this run can answer."""
    out = []
    for ours, peer, factor in PAIRS:
        for level in levels:
            r = ratio(rows, ours, peer, f"output_throughput@{level}")
            out.append((f"{ours} ÷ {peer} tok/s at {level}", r, f"≥ {factor}", None if r is None else r >= factor))
    r = ratio(rows, f"{OURS} int4", "llama-server Q4_0", "median_tpot_ms@1")
    out.append(("int4 ÷ Q4_0 time per output token alone", r, "≤ 1", None if r is None else r <= 1))
    best = max((k for k in rows if k.startswith(OURS) and not k.endswith(" + prefix")), default=None,
               key=lambda k: rows[k].get(f"output_throughput@{levels[-1]}") or 0)  # fmt: skip
    if best:
        r = ratio(rows, best, "vLLM CPU bfloat16", f"output_throughput@{levels[-1]}")
        out.append((f"{best} ÷ vLLM bf16 tok/s at {levels[-1]}", r, "≥ 1", None if r is None else r >= 1))
    if 8 in levels:
        for ours, peer, _ in [pair for pair in PAIRS if pair[1].startswith("llama-server")]:
            r = ratio(rows, ours, peer, "p99_ttft_ms@8")
            out.append((f"{ours} ÷ {peer} TTFT p99 at 8", r, "≤ 1", None if r is None else r <= 1))
    for row in [k for k in rows if k.endswith(" + prefix")]:
        for level in levels:
            r = ratio(rows, row, row.removesuffix(" + prefix"), f"output_throughput@{level}")
            out.append((f"{row} ÷ base at {level}", r, "≥ 0.97", None if r is None else r >= 0.97))
    return out


MIXED = ", mixed steps"  # the suffix of our rows served with --mixed-steps


def mixed_ratios(rows: dict, levels: list[int]) -> list[tuple[str, list[float | None]]]:
    """(row, tokens/s with mixed steps ÷ without at each level) for every row also served with them."""
    out = []
    for row in [k for k in rows if k.endswith(MIXED)]:
        plain = row.removesuffix(MIXED)
        out.append((plain, [ratio(rows, row, plain, f"output_throughput@{level}") for level in levels]))
    return out


def _fmt(value, digits: int = 0) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _shared(args) -> str:
    """The prompts' shared start, as the report's header names it."""
    n, starts = getattr(args, "shared_prefix_len", 0), getattr(args, "prefix_repetition", 0)
    if n and starts:
        return f"one of {starts} starts of {n} tokens, shuffled, + "
    return f"{n} tokens every prompt starts with + " if n else ""


def _client(args) -> str:
    """The load generator and its prompts, as the report's header names them."""
    if getattr(args, "client", "vllm") == "light":
        return (
            f"`prefixdeploy bench --url` (the light client: httpx, keep-alive, one fixed 33-token prompt, "
            f"{args.output_len} output tokens, EOS ignored)"
        )
    fields = (("temperature", "temperature"), ("top-p", "top_p"), ("top-k", "top_k"), ("min-p", "min_p"))
    sampling = "".join(f", {name} {getattr(args, key)}" for name, key in fields if getattr(args, key, None) is not None)
    return (
        f"`vllm bench serve` (random dataset, {_shared(args)}{args.input_len} input tokens, {args.output_len} output "
        f"tokens, EOS ignored, `Connection: close`{sampling})"
    )


def markdown(args, rows: dict, started: str) -> str:
    levels = args.levels
    head = ["server", "weights", *[f"tok/s c{c}" for c in levels], "TTFT p50 / p99 c8 (ms)", "TPOT c1 (ms)"]
    head += ["ITL p99 c8 (ms)", "memory (MiB)", "start-up (s)", "failed"]
    lines = [
        "# Served throughput against llama.cpp and vLLM (benchmarks/serving_peers.py)",
        "",
        f"Run {started} on {_cpu()} ({os.cpu_count()} logical cores), load average at the end "
        f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}. {_client(args)}, {args.requests} requests at "
        f"{levels} clients, {args.rounds} rounds with the servers in alternating order; means over the rounds. Every "
        f"server decodes up to {args.slots} rows at once.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * 2 + "---:|" * (len(head) - 2),
    ]
    for name, r in rows.items():
        ttft = f"{_fmt(r.get('median_ttft_ms@8'))} / {_fmt(r.get('p99_ttft_ms@8'))}"
        cells = [name, r["weights"], *[_fmt(r.get(f"output_throughput@{c}")) for c in levels], ttft]
        cells += [_fmt(r.get("median_tpot_ms@1"), 1), _fmt(r.get("p99_itl_ms@8")), _fmt(r["memory_mib"])]
        cells += [_fmt(r["startup_s"], 1), str(r["failed"])]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Targets (issue 18; ratios from this run)",
        "",
        "| ratio | measured | target | met |",
        "|---|---:|---|---|",
    ]
    for what, value, target, met in targets(rows, levels):
        lines.append(f"| {what} | {_fmt(value, 2)} | {target} | {'–' if met is None else 'yes' if met else '**no**'} |")
    if mixed := mixed_ratios(rows, levels):
        lines += ["", "## Mixed steps (tokens/s with ÷ without `--mixed-steps`, this run)", ""]
        lines += ["| row | " + " | ".join(f"c{c}" for c in levels) + " |", "|---|" + "---:|" * len(levels)]
        lines += [f"| {row} | " + " | ".join(_fmt(r, 2) for r in values) + " |" for row, values in mixed]
    lines += ["", f"![tokens/s against clients]({args.out.with_suffix('.png').name})", ""]
    return "\n".join(lines)


def write_plot(rows: dict, levels: list[int], path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab20").colors  # 20 colours: no two plotted rows share one
    plotted = [(name, r) for name, r in rows.items() if not name.endswith(" + prefix")]  # the table has those
    for (name, r), color in zip(plotted, colors[::2] + colors[1::2]):
        ys = [r.get(f"output_throughput@{c}") for c in levels]
        style = "-" if name.startswith(OURS) else "--"
        ax.plot(levels, ys, style, marker="o", label=name, color=color)
    ax.set_xlabel("concurrent clients")
    ax.set_ylabel("output tokens/s")
    ax.set_xticks(levels)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(args, rows: dict, records: list[dict], started: str) -> None:
    args.out.write_text(markdown(args, rows, started))
    args.out.with_suffix(".json").write_text(json.dumps({"rows": rows, "records": records}, indent=1) + "\n")
    write_plot(rows, args.levels, args.out.with_suffix(".png"))
    print(args.out.read_text())


def _cpu() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
