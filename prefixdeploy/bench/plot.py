"""The benchmark's PNG: request latency per prefix as bars; TTFT and TPOT against prefix length as lines.

Must not import torch. matplotlib is imported only here, when a plot is asked for (`pip install
'prefixdeploy[bench]'`), and without pyplot, so no global backend is switched.
"""

from __future__ import annotations

from pathlib import Path

from prefixdeploy.bench.config import NO_PREFIX, PREFIX
from prefixdeploy.bench.measure import summarize
from prefixdeploy.bench.results import BenchRun, Measurement
from prefixdeploy.errors import ConfigError


def write_plot(run: BenchRun, path: Path) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("plot needs matplotlib: pip install 'prefixdeploy[bench]'", "plot") from None
    points = _per_prefix(run)  # (label, P, latency p50/p90, TTFT p50, TPOT p50) in ms, sorted by P
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    bars, ttft, tpot = fig.subplots(1, 3)
    c = run.config
    fig.suptitle(
        f"{c.bundle.name}: {run.graph.file} ({run.graph.weights}), batch {c.batch_size}, ISL {c.prompt_length}, "
        f"OSL {c.output_length}, concurrency {c.concurrency}"
    )
    if not points:
        for ax in (bars, ttft, tpot):
            ax.text(0.5, 0.5, "no per-prefix rows were measured", ha="center", va="center", transform=ax.transAxes)
    labels = [f"{p[0]}\n(P={p[1]})" for p in points]
    p50 = [p[2] for p in points]
    bars.bar(labels, p50, yerr=[[0] * len(points), [p[3] - p[2] for p in points]], capsize=4, color="#4C72B0")
    bars.set(title="request latency (bar p50, whisker p90)", ylabel="ms")
    for ax, index, title in ((ttft, 4, "time to first token (p50)"), (tpot, 5, "time per output token (p50)")):
        ax.plot([p[1] for p in points], [p[index] for p in points], marker="o")
        for p in points:
            ax.annotate(p[0], (p[1], p[index]), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(title=title, xlabel="prefix length P (virtual tokens)", ylabel="ms")
        ax.set_ylim(bottom=0)
    fig.savefig(path, format="png", dpi=100)


def _per_prefix(run: BenchRun) -> list[tuple[str, int, float, float, float, float]]:
    points = []
    for row in run.rows:
        if isinstance(row, Measurement) and row.workload.scenario in (PREFIX, NO_PREFIX):
            t = row.timings
            lat = summarize(x.latency for x in t)
            name = row.workload.role or "none"
            P = max(row.prefix_lengths)
            ms = [lat["p50"], lat["p90"], summarize(x.ttft for x in t)["p50"], summarize(x.tpot for x in t)["p50"]]
            points.append((name, P, *(v * 1e3 for v in ms)))
    return sorted(points, key=lambda p: (p[1], p[0]))
