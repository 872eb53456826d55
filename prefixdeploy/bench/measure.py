"""Timing one request step by step, summary statistics, peak memory and machine facts. Must not import torch.

Vocabulary as in genai-perf: TTFT (time to first token: the prefill and the first sample), ITL (inter-token
latency = TPOT, time per output token after the first), request latency (first call to the last token).
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from prefixdeploy.runtime.generate import GenerationConfig

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class RequestTiming:
    """One request: B rows generating `tokens` new tokens each. Times in seconds."""

    ttft: float  # request issued -> first token
    latency: float  # request issued -> last token
    tokens: int  # new tokens per row (OSL)

    @property
    def tpot(self) -> float:
        """Time per output token after the first (genai-perf's inter-token latency)."""
        return (self.latency - self.ttft) / (self.tokens - 1)


def time_request(bundle, prompt_ids: list[list[int]], prefixes: list[str | None], config: GenerationConfig):
    """Run one request through `bundle.steps` and time its first and last token (the loop body does nothing else)."""
    start = time.perf_counter()
    steps = bundle.steps(prompt_ids, prefixes, config)
    first = last = start
    n = 0
    for _ in steps:
        last = time.perf_counter()
        if n == 0:
            first = last
        n += 1
    assert n == config.max_new_tokens, f"expected {config.max_new_tokens} steps, got {n} (is ignore_eos set?)"
    return RequestTiming(first - start, last - start, n)


def summarize(values) -> dict[str, float]:
    """mean, min, max, std and p50/p90/p99 (linear interpolation, so p50 ≤ p90 ≤ p99) of a non-empty sample."""
    a = np.asarray(list(values), np.float64)  # (N,)
    stats = {"mean": float(a.mean()), "min": float(a.min()), "max": float(a.max()), "std": float(a.std())}
    for q, v in zip(PERCENTILES, np.percentile(a, PERCENTILES)):
        stats[f"p{q}"] = float(v)
    return stats


class RssSampler:
    """Peak resident memory while the `with` block runs.

    With psutil: the largest RSS sampled every `interval` seconds on a background thread (and at both ends). Without
    it: `resource.getrusage`'s peak RSS of the whole process so far (it cannot be reset, so it may be earlier's peak).
    """

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        try:
            import psutil

            self._process = psutil.Process()
            self.method = "psutil"
        except ImportError:
            self._process = None
            self.method = "getrusage"

    def __enter__(self):
        if self._process is not None:
            self._sample()
            self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._sample()
        else:
            self.peak = process_peak_rss()

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        self.peak = max(self.peak, self._process.memory_info().rss)


def process_peak_rss() -> int:
    """The process's peak RSS so far, in bytes (getrusage: KiB on Linux, bytes on macOS)."""
    import resource  # POSIX only; psutil serves elsewhere

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def machine_info() -> dict:
    """CPU model, logical and physical cores, memory, OS, Python, onnxruntime version and the date (UTC)."""
    import onnxruntime

    info = {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": None,
        "memory_bytes": None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["memory_bytes"] = psutil.virtual_memory().total
    except ImportError:
        pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
