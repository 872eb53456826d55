"""The serving benchmark's PNG: throughput, TTFT and inter-token latency against concurrency.

matplotlib is imported only here, without pyplot (`pip install 'prefixdeploy[bench]'`).
"""

from __future__ import annotations

from pathlib import Path

from prefixdeploy.errors import ConfigError


def write_sweep_plot(report: dict, path: Path) -> None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("plot needs matplotlib: pip install 'prefixdeploy[bench]'", "plot") from None
    levels = [row for row in report["levels"] if row["completed"]]
    x = [row["concurrency"] for row in levels]
    fig = Figure(figsize=(13, 4.2), layout="constrained")
    tput, ttft, itl = fig.subplots(1, 3)
    fig.suptitle(f"{report['url']}: OSL {report['max_tokens']}, models {', '.join(report['models'])}")
    tput.plot(x, [row["output_throughput"] for row in levels], marker="o")
    tput.set(title="output throughput", xlabel="concurrency", ylabel="tokens/s")
    for ax, name, title in ((ttft, "ttft", "time to first token"), (itl, "itl", "inter-token latency")):
        for q in ("p50", "p99"):
            ax.plot(x, [row[f"{name}_ms"][q] for row in levels], marker="o", label=q)
        ax.set(title=title, xlabel="concurrency", ylabel="ms")
        ax.legend()
    for ax in (tput, ttft, itl):
        ax.set_xscale("log", base=2)
        ax.set_xticks(x, [str(c) for c in x])
        ax.set_ylim(bottom=0)
    fig.savefig(path, format="png", dpi=100)
