"""Present a benchmark run: the JSON document, the ratios between scenarios, the terminal table, the output files.

Must not import torch. The JSON schema is documented in `prefixdeploy/bench/__init__.py`.
"""

from __future__ import annotations

import json
from statistics import mean

from prefixdeploy.bench.config import ALTERNATING, MIXED_BATCH, NO_PREFIX, PREFIX, TEXT_PREFIX
from prefixdeploy.bench.measure import summarize
from prefixdeploy.bench.plot import write_plot
from prefixdeploy.bench.results import BenchRun, Measurement
from prefixdeploy.bench.scenarios import Skipped

SCHEMA, SCHEMA_VERSION = "prefixdeploy.bench", 1
MIB = 1 << 20


def write_outputs(run: BenchRun) -> None:
    """Write the files the config asks for: the JSON document (--json) and the PNG (--plot)."""
    if run.config.json is not None:
        run.config.json.write_text(json.dumps(to_json(run), indent=2) + "\n")
    if run.config.plot is not None:
        write_plot(run, run.config.plot)


def to_json(run: BenchRun) -> dict:
    c = run.config
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "bundle": str(c.bundle),
        "mode": run.mode,
        "graph": {
            "file": run.graph.file,
            "precision": run.graph.precision,
            "kind": run.graph.kind,
            "recipe": run.graph.recipe,
        },
        "config": {
            "prompt_length": c.prompt_length,
            "output_length": c.output_length,
            "batch_size": c.batch_size,
            "mixed_batch_size": c.mixed_batch_size,
            "concurrency": c.concurrency,
            "warmup": c.warmup,
            "repetitions": c.repetitions,
            "scenarios": list(c.scenarios),
            "prefixes": list(c.prefixes),
            "provider": c.provider,
            "text_prefix_length": c.text_prefix_length,
            "prompt_lookup": c.prompt_lookup,
            "inputs": str(c.inputs) if c.inputs else None,
            "json_schema": str(c.json_schema) if c.json_schema else None,
        },
        "machine": run.machine,
        "load": {"bundle_load_s": run.load_s, "load_to_first_token_s": run.load_to_first_token_s},
        "memory": {"method": run.rss_method, "process_peak_rss_bytes": run.process_peak_rss},
        "results": [_row(r, run) for r in run.rows],
        "ratios": ratios(run),
        "prompt_lookup": run.lookup.to_json() if run.lookup else None,
        "structured": run.structured.to_json() if run.structured else None,
    }


def _row(row: Measurement | Skipped, run: BenchRun) -> dict:
    if isinstance(row, Skipped):
        return {"scenario": row.scenario, "name": row.name, "status": "skipped", "reason": row.reason}
    w, c, t = row.workload, run.config, row.timings
    B, isl, osl = w.batch_size, c.prompt_length + len(w.lead), c.output_length
    return {
        "scenario": w.scenario,
        "name": w.name,
        "status": "ok",
        "role": w.role,
        "prefixes": [list(call) for call in w.calls],
        "prefix_lengths": list(row.prefix_lengths),
        "batch_size": B,
        "concurrency": c.concurrency,
        "requests": len(t),
        "input_sequence_length": isl,
        "output_sequence_length": osl,
        "time_to_first_token_s": summarize(x.ttft for x in t),
        "inter_token_latency_s": summarize(x.tpot for x in t),
        "request_latency_s": summarize(x.latency for x in t),
        "output_token_throughput_per_s": summarize(osl * B / x.latency for x in t),
        "prefill_token_throughput_per_s": summarize(isl * B / x.ttft for x in t),
        "total_output_token_throughput_per_s": osl * B * len(t) / row.wall,
        "request_throughput_per_s": len(t) / row.wall,
        "peak_rss_bytes": row.peak_rss,
    }


def _latency(m: Measurement) -> float:
    return summarize(x.latency for x in m.timings)["p50"]


def _throughput(m: Measurement, osl: int) -> float:
    """Output tokens/s of the median request: OSL·B / p50 request latency."""
    return osl * m.workload.batch_size / _latency(m)


def ratios(run: BenchRun) -> dict:
    """The ratios between scenarios (None where a scenario they need did not run), all from p50 request latency:

    prefix_vs_no_prefix_latency: per prefix, its latency / the no-prefix latency (same batch size).
    alternating_vs_single_prefix_latency: alternating latency / mean of the alternated prefixes' own latencies.
    mixed_vs_single_prefix_batch_throughput: tokens/s of the mixed batch / the same batch with its longest prefix.
    batch_vs_batch1_throughput: tokens/s of that one-prefix batch / the same prefix at batch 1.
    text_prefix_vs_in_prompt_ttft: p50 TTFT with the instruction block stored as a prefix / with it in the prompt.
    """
    done = [r for r in run.rows if isinstance(r, Measurement)]
    by = {(m.workload.scenario, m.workload.role): m for m in done}
    prefix_rows = {m.workload.role: m for m in done if m.workload.scenario == PREFIX}
    osl = run.config.output_length
    out: dict = {
        "prefix_vs_no_prefix_latency": None,
        "alternating_vs_single_prefix_latency": None,
        "mixed_vs_single_prefix_batch_throughput": None,
        "batch_vs_batch1_throughput": None,
        "text_prefix_vs_in_prompt_ttft": None,
    }
    bare = by.get((NO_PREFIX, ""))
    if bare is not None and prefix_rows:
        out["prefix_vs_no_prefix_latency"] = {n: _latency(m) / _latency(bare) for n, m in prefix_rows.items()}
    alt = by.get((ALTERNATING, ""))
    if alt is not None:
        names = {n for call in alt.workload.calls for n in call}
        if names <= set(prefix_rows):
            out["alternating_vs_single_prefix_latency"] = _latency(alt) / mean(_latency(prefix_rows[n]) for n in names)
    mixed, single, one = (by.get((MIXED_BATCH, role)) for role in ("mixed", "single", "batch1"))
    if mixed is not None and single is not None:
        out["mixed_vs_single_prefix_batch_throughput"] = _throughput(mixed, osl) / _throughput(single, osl)
    if single is not None and one is not None:
        out["batch_vs_batch1_throughput"] = _throughput(single, osl) / _throughput(one, osl)
    stored, in_prompt = (by.get((TEXT_PREFIX, role)) for role in ("stored", "in-prompt"))
    if stored is not None and in_prompt is not None:
        out["text_prefix_vs_in_prompt_ttft"] = _ttft(stored) / _ttft(in_prompt)
    return out


def _ttft(m: Measurement) -> float:
    return summarize(x.ttft for x in m.timings)["p50"]


# -- the terminal report ----------------------------------------------------------------------------------------------

HEADER = (
    "scenario",
    "name",
    "B",
    "P",
    "TTFT p50 ms",
    "TPOT p50 ms",
    "latency p50 ms",
    "p90 ms",
    "p99 ms",
    "out tok/s",
    "prefill tok/s",
    "peak RSS MiB",
)


def format_report(run: BenchRun) -> str:
    """A few lines about the run, the aligned results table, and the ratios."""
    c, g = run.config, run.graph
    lines = [
        f"bundle {c.bundle} ({run.mode}; graph {g.file}, {g.weights}, {g.kind}; provider {c.provider}); "
        f"ISL {c.prompt_length}, "
        f"OSL {c.output_length}, concurrency {c.concurrency}, {c.warmup} warmup + {c.repetitions} timed requests "
        "per thread per row; greedy, EOS ignored",
        f"load {run.load_s * 1e3:.1f} ms; load to first token {run.load_to_first_token_s * 1e3:.1f} ms; "
        f"process peak RSS {run.process_peak_rss / MIB:.0f} MiB (per row: {run.rss_method})",
        "",
        *format_table(run),
        "",
        *format_ratios(run),
        *(run.lookup.format() if run.lookup else []),
        *(run.structured.format() if run.structured else []),
    ]
    for option, path in (("json", c.json), ("plot", c.plot)):
        if path is not None:
            lines.append(f"wrote {path} ({option})")
    return "\n".join(lines)


def format_table(run: BenchRun) -> list[str]:
    rows = [_cells(r, run) for r in run.rows if isinstance(r, Measurement)]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(HEADER)]
    skipped = [r for r in run.rows if isinstance(r, Skipped)]
    widths[0] = max([widths[0], *(len(r.scenario) for r in skipped)])
    widths[1] = max([widths[1], *(len(r.name) for r in skipped)])

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    out = [line(HEADER), "  ".join("-" * w for w in widths)]
    for r in run.rows:
        if isinstance(r, Skipped):
            out.append(f"{r.scenario.ljust(widths[0])}  {r.name.ljust(widths[1])}  skipped: {r.reason}")
        else:
            out.append(line(_cells(r, run)))
    return out


def _cells(m: Measurement, run: BenchRun) -> tuple[str, ...]:
    t, osl, B = m.timings, run.config.output_length, m.workload.batch_size
    isl = run.config.prompt_length + len(m.workload.lead)
    lat = summarize(x.latency for x in t)
    lengths = m.all_prefix_lengths
    return (
        m.workload.scenario,
        m.workload.name,
        str(B),
        ",".join(map(str, lengths)),
        f"{summarize(x.ttft for x in t)['p50'] * 1e3:.2f}",
        f"{summarize(x.tpot for x in t)['p50'] * 1e3:.2f}",
        f"{lat['p50'] * 1e3:.2f}",
        f"{lat['p90'] * 1e3:.2f}",
        f"{lat['p99'] * 1e3:.2f}",
        f"{summarize(osl * B / x.latency for x in t)['p50']:.1f}",
        f"{summarize(isl * B / x.ttft for x in t)['p50']:.1f}",
        f"{m.peak_rss / MIB:.0f}",
    )


def format_ratios(run: BenchRun) -> list[str]:
    r, Bm = ratios(run), run.config.mixed_batch_size

    def x(value) -> str:
        return "n/a (a scenario it needs was skipped or not run)" if value is None else f"{value:.3f}×"

    on_off = r["prefix_vs_no_prefix_latency"]
    items = [
        (
            "prefix on / no prefix, latency",
            "  ".join(f"{n} {v:.3f}×" for n, v in on_off.items()) if on_off else x(None),
        ),
        ("alternating / single prefix, latency", x(r["alternating_vs_single_prefix_latency"])),
        (f"mixed batch ×{Bm} / one-prefix batch ×{Bm}, tokens/s", x(r["mixed_vs_single_prefix_batch_throughput"])),
        (f"one-prefix batch ×{Bm} / batch ×1, tokens/s", x(r["batch_vs_batch1_throughput"])),
        ("text block stored as prefix / in the prompt, TTFT", x(r["text_prefix_vs_in_prompt_ttft"])),
    ]
    width = max(len(label) for label, _ in items) + 1
    return ["ratios (from p50 request latency):", *(f"  {(label + ':').ljust(width)}  {v}" for label, v in items)]
