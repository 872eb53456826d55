"""The prepared GPU run's results, written to --out after every step: summary.json, summary.md and log.txt.

Standard library only. A command stopped at the device call's limit leaves what the steps before it wrote, so the
files are rewritten as each record arrives. summary.md puts the issue's targets beside the measured numbers: decode
time per token against PyTorch eager at batch 1 (≥ 3× for SmolLM2 fp16), greedy tokens against the stored references
and `run`, and eight clients' throughput against one's (≥ 6×).
"""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path

TPOT_TARGET, SERVE_TARGET = 3.0, 6.0


class Results:
    def __init__(self, out: Path, budget: float):
        self.out, self.budget, self.start = out, budget, time.monotonic()
        self.records: list[dict] = []
        out.mkdir(parents=True, exist_ok=True)
        (out / "log.txt").write_text("")

    def left(self) -> float:
        return self.budget - (time.monotonic() - self.start)

    def log(self, title: str, command: list[str] | None, rc, text: str) -> None:
        head = f"==== {title} (rc {rc})" + (f": {shlex.join(command)}" if command else "")
        with (self.out / "log.txt").open("a") as f:
            f.write(f"{head}\n{text.rstrip()}\n\n")

    def note(self, name: str, text: str, log_text: str = "") -> None:
        self.log(name, None, "-", text + ("\n" + log_text if log_text else ""))
        self.add({"model": "machine", "step": name, "status": "ok", "note": text})

    def fail(self, name: str, text: str) -> None:
        self.log(name, None, "failed", text)
        self.add({"model": "machine", "step": name, "status": "failed", "error": text})
        self.finish()

    def add(self, record: dict) -> None:
        self.records.append(record)
        print(
            f"[gpu] {record['model']} {record['step']}: {record['status']}"
            + (f" ({record['error'][:200]})" if "error" in record else ""),
            flush=True,
        )
        self.write()

    def write(self) -> None:
        elapsed = round(time.monotonic() - self.start, 1)
        summary = {"elapsed_s": elapsed, "budget_s": self.budget, "records": self.records, "targets": targets(self)}
        (self.out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
        (self.out / "summary.md").write_text(render(self, elapsed) + "\n")

    def finish(self) -> int:
        self.write()
        print((self.out / "summary.md").read_text(), flush=True)
        return 0 if all(r["status"] == "ok" for r in self.records) else 1

    def data(self, model: str, step: str) -> dict | None:
        return next((r.get("data") for r in self.records if (r["model"], r["step"]) == (model, step)), None)


def bench_row(bench: dict, name: str) -> dict | None:
    return next((r for r in bench["results"] if r.get("name") == name and r.get("status") == "ok"), None)


def speed(results: Results, model: str) -> dict | None:
    """prefixdeploy's decode time per token at batch 1 (peft16) against PyTorch eager's, and their tokens."""
    bench, torch = results.data(model, "bench"), results.data(model, "torch")
    row = bench_row(bench, "prefix peft16") if bench else None
    if row is None or torch is None:
        return None
    ours, theirs = row["inter_token_latency_s"]["p50"], torch["torch"]["tpot_s"]["p50"]
    return {
        "graph": bench["graph"]["file"],
        "prefixdeploy_tpot_ms": ours * 1e3,
        "torch_tpot_ms": theirs * 1e3,
        "speedup": theirs / ours if ours else None,
        "prefixdeploy_ttft_ms": row["time_to_first_token_s"]["p50"] * 1e3,
        "torch_ttft_ms": torch["torch"]["ttft_s"]["p50"] * 1e3,
        "tokens_equal": f"{torch['tokens_equal']}/{torch['total']}",
    }


def targets(results: Results) -> dict:
    out = {}
    for model in sorted({r["model"] for r in results.records} - {"machine"}):
        s, served = speed(results, model), results.data(model, "serve")
        out[model] = {
            "speed": s,
            "serve": None if served is None else {k: served[k] for k in ("equal", "total", "throughput", "ratio")},
        }
    return out


def render(results: Results, elapsed: float) -> str:
    lines = [f"# prefixdeploy GPU run ({elapsed:.0f} s of {results.budget:.0f} s)", ""]
    machine = results.data("machine", "preflight") or {}
    lines += [f"- {k}: {v}" for k, v in machine.items()] + [""]
    lines += ["| model | step | status | s | note |", "|---|---|---|---:|---|"]
    for r in results.records:
        note = (r.get("error") or r.get("note") or r.get("reason") or "").replace("|", "/").replace("\n", " ")
        lines.append(f"| {r['model']} | {r['step']} | {r['status']} | {r.get('seconds', '')} | {note[:160]} |")
    for model, t in targets(results).items():
        lines += ["", f"## {model}"]
        if (s := t["speed"]) is not None:
            ratio = "–" if s["speedup"] is None else f"{s['speedup']:.2f}×"
            lines.append(
                f"- decode per token, batch 1, prefix peft16 ({s['graph']}): prefixdeploy "
                f"{s['prefixdeploy_tpot_ms']:.2f} ms, PyTorch eager {s['torch_tpot_ms']:.2f} ms: {ratio} "
                f"(target ≥ {TPOT_TARGET:g}×); TTFT {s['prefixdeploy_ttft_ms']:.1f} / {s['torch_ttft_ms']:.1f} ms; "
                f"greedy tokens equal {s['tokens_equal']}"
            )
        if (v := t["serve"]) is not None:
            ratio = "–" if v["ratio"] is None else f"{v['ratio']:.2f}×"
            lines.append(
                f"- serve: outputs equal to `run` {v['equal']}/{v['total']}; output tokens/s "
                f"{json.dumps({k: round(x, 1) for k, x in v['throughput'].items()})}: 8 clients / 1 = {ratio} "
                f"(target ≥ {SERVE_TARGET:g}×)"
            )
        for precision, text in (results.data(model, "check") or {}).items():
            lines += [f"- check {precision}:", "```", text.strip(), "```"]
    return "\n".join(lines)
