"""The Markdown report `compare.py` writes (benchmarks/RESULTS.md) from its report dict."""

from __future__ import annotations

import llamacpp


def render_markdown(r: dict) -> str:
    m, bw = r["machine"], r["bandwidth"]
    with_llama = r.get("llamacpp") is not None
    lines = [
        "# prefixdeploy vs PyTorch + PEFT vs ONNX Runtime GenAI" + (" vs llama.cpp" if with_llama else "") + " (CPU)",
        "",
        "Written by `benchmarks/compare.py`"
        + (" **--quick (smoke run: not a measurement)**" if r["quick"] else "")
        + f", {m['date']}.",
        "",
        f"Model: {r['model']}; prefix: {r['adapter']}. One prompt of {r['prompt_tokens']} tokens, "
        f"{r['new_tokens']} new tokens, greedy, EOS ignored, batch 1. {r['warmup']} warmup + {r['repetitions']} "
        "timed rounds, each running every system once in turn (interleaved); medians over the timed rounds. "
        + (
            "GenAI and llama.cpp take no prefix, so they run the bare model."
            if with_llama
            else "GenAI has no prefix, so it runs the bare model."
        ),
        "",
        "| system | weights | prefix P | request latency ms (median) | p90 ms | TTFT ms | TPOT ms | "
        "weights read / token MB | floor ms / token | TPOT ÷ floor |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["results"]:
        detail = f" (`{row['detail']}`)" if row["detail"] and row["system"] == "prefixdeploy" else ""
        lines.append(
            f"| {row['system']}{detail} | {row['precision']} | {row['prefix_length']} | "
            f"{row['request_latency_s'] * 1e3:.1f} | {row['request_latency_p90_s'] * 1e3:.1f} | "
            f"{row['time_to_first_token_s'] * 1e3:.1f} | {row['time_per_output_token_s'] * 1e3:.2f} | "
            f"{row['weight_bytes_per_token'] / 1e6:.3g} | {row['memory_floor_s_per_token'] * 1e3:.3g} | "
            f"{row['tpot_over_floor']:.2f}× |"
        )
    lines += ["", "## Ratios the issue targets", "", "| ratio | value | target | met |", "|---|---:|---:|---|"]
    for ratio in r["ratios"].values():
        value = "n/a (skipped)" if ratio["value"] is None else f"{ratio['value']:.2f}"
        if "ttft_ratio" in ratio:
            value += f" (TTFT {ratio['ttft_ratio']:.2f}, TPOT {ratio['tpot_ratio']:.2f})"
        sense = "≤" if ratio["sense"] == "le" else "≥"
        met = {True: "yes", False: "**no**", None: "–"}[ratio["met"]]
        lines.append(f"| {ratio['description']} | {value} | {sense} {ratio['target']} | {met} |")
    lines += llamacpp.render(r.get("llamacpp"))
    unset = ", ".join(bw.get("unset", [])) or "none were set"
    tried = "; ".join(f"{x['method']} {x['gb_per_s']:.1f}" for x in bw["all"])
    lines += [
        "",
        "## Memory floor",
        "",
        f"Memory read bandwidth: **{bw['gb_per_s']:.1f} GB/s**, the best of {bw['rounds']} passes over a "
        f"{bw['bytes'] / (1 << 30):.3g} GiB float32 buffer per method, measured before loading the systems "
        f"({bw['before_gb_per_s']:.1f} GB/s) and after timing them ({bw['after_gb_per_s']:.1f} GB/s); best "
        f"method: {bw['method']} (tried, in the better measurement: {tried}). Measured in a separate process with "
        f"OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset ({unset}).",
        "",
        "The floor is the time to read every weight a decode step multiplies by once: the bytes of all "
        "MatMul/Gemm(-like) weight initializers of the ONNX graph actually run (block scales and zero points "
        "included; a tied embedding counted once, for the lm_head; the Gather's embedding table not counted), or "
        "of every nn.Linear weight for PyTorch, divided by the bandwidth. KV-cache reads are not included.",
        *(
            [
                "",
                "A TPOT below its floor (TPOT ÷ floor < 1) means the bandwidth was under-measured (a busy neighbour "
                "during both measurements) or part of the weights stayed in cache: read that row's floor with care.",
            ]
            if any(row["tpot_over_floor"] < 1 for row in r["results"])
            else []
        ),
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}; {m['logical_cores']} logical cores ({m['physical_cores']} physical); "
        f"memory {(m['memory_bytes'] or 0) / (1 << 30):.1f} GiB",
        f"- {m['platform']}, Python {m['python']}",
        f"- load average (1, 5, 15 min) at the start: {_loads(r['load_average']['start'])}; at the end: "
        f"{_loads(r['load_average']['end'])}",
        f"- onnxruntime {m['onnxruntime']}, onnxruntime-genai {m['onnxruntime_genai']}, "
        f"llama-cpp-python {m.get('llama_cpp')}, torch {m['torch']}, "
        f"transformers {m['transformers']}, peft {m['peft']}, prefixdeploy {m['prefixdeploy']}",
        "",
        "## Notes",
        "",
        *(f"- {n}" for n in r["notes"]),
        "- TTFT: from the request's first call (GenAI: creating its og.Generator, which every request needs) to "
        "the first token; TPOT: (latency − TTFT) / (new tokens − 1).",
    ]
    return "\n".join(lines) + "\n"


def _loads(values: list[float] | None) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "n/a"
