"""Run the benchmark: load the bundle (timed), time a cold first token, then every workload with warmup,
repetitions and N concurrent threads, under a progress bar. Must not import torch.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from tqdm import tqdm

from prefixdeploy.bench.config import PROMPT_LOOKUP, STRUCTURED, BenchConfig
from prefixdeploy.bench.lookup import LookupComparison, compare_lookup, read_inputs
from prefixdeploy.bench.measure import RequestTiming, RssSampler, machine_info, process_peak_rss, time_request
from prefixdeploy.bench.report import write_outputs
from prefixdeploy.bench.results import BenchRun, Measurement
from prefixdeploy.bench.scenarios import (
    Skipped,
    Workload,
    check_plan_fits,
    chosen_prefixes,
    plan_workloads,
    prefix_length,
    synthetic_prompts,
)
from prefixdeploy.bench.structured import StructuredComparison, compare_structured
from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig

log = logging.getLogger(__name__)


def run_bench(config: BenchConfig) -> BenchRun:
    """Measure the bundle under every chosen scenario; write --json / --plot if asked. Returns the measurements."""
    machine = machine_info()
    start = time.perf_counter()
    bundle = load_bundle(config.bundle, graph=config.graph, provider=config.provider)
    load_s = time.perf_counter() - start
    with bundle:
        plan = plan_workloads(bundle, config)
        lookup = _compare_lookup(bundle, config)
        structured = _compare_structured(bundle, config)
        if not any(isinstance(w, Workload) for w in plan) and lookup is None and structured is None:
            reasons = "; ".join(f"{w.name}: {w.reason}" for w in plan)
            raise PrefixDeployError(f"nothing to measure: every scenario was skipped ({reasons})")
        check_plan_fits(bundle, plan, config)
        rows_needed = max((w.batch_size for w in plan if isinstance(w, Workload)), default=1)
        prompts = synthetic_prompts(bundle, config.prompt_length, rows_needed)
        first = _first_prefix(plan, bundle.manifest.prefix_names)
        cold_at = time.perf_counter() - start
        cold = time_request(bundle, prompts[:1], [first], GenerationConfig(max_new_tokens=1, ignore_eos=True))
        load_to_first = cold_at + cold.ttft
        rows, method = _run_plan(bundle, plan, prompts, config)
        run = BenchRun(
            config=config,
            mode=bundle.manifest.mode,
            graph=bundle.graph,
            machine=machine,
            load_s=load_s,
            load_to_first_token_s=load_to_first,
            rows=rows,
            rss_method=method,
            process_peak_rss=process_peak_rss(),
            lookup=lookup,
            structured=structured,
        )
    write_outputs(run)
    return run


def _compare_lookup(bundle, config: BenchConfig) -> LookupComparison | None:
    if PROMPT_LOOKUP not in config.scenarios:
        return None
    names = chosen_prefixes(bundle, config.prefixes)
    prefix = names[0] if names else None
    return compare_lookup(bundle, prefix, read_inputs(config.inputs), config)


def _compare_structured(bundle, config: BenchConfig) -> StructuredComparison | None:
    if STRUCTURED not in config.scenarios:
        return None
    names = chosen_prefixes(bundle, config.prefixes)
    return compare_structured(bundle, names[0] if names else None, read_inputs(config.inputs), config)


def _run_plan(bundle, plan, prompts, config: BenchConfig) -> tuple[list[Measurement | Skipped], str]:
    per_workload = (config.warmup + config.repetitions) * config.concurrency
    total = per_workload * sum(isinstance(w, Workload) for w in plan)
    rows: list[Measurement | Skipped] = []
    method = RssSampler().method
    with tqdm(total=total, unit="req", disable=not sys.stderr.isatty(), leave=False) as progress:
        for item in plan:
            if isinstance(item, Skipped):
                log.info("%s: skipped (%s)", item.name, item.reason)
                rows.append(item)
                continue
            progress.set_description_str(item.name)
            rows.append(measure(bundle, item, prompts, config, progress.update))
    return rows, method


def measure(bundle, workload: Workload, prompts: list[list[int]], config: BenchConfig, tick=None) -> Measurement:
    """Time `config.repetitions` requests on each of `config.concurrency` threads, after `config.warmup` each.

    All threads finish their warmup before any timed request starts (a barrier), so the timed phase runs at the
    full concurrency throughout. Thread w starts its walk through `workload.calls` at call w.
    """
    gen = GenerationConfig(max_new_tokens=config.output_length, ignore_eos=True)  # greedy
    ids = [list(workload.lead) + p for p in prompts[: workload.batch_size]]
    started: list[float] = []
    barrier = threading.Barrier(config.concurrency, action=lambda: started.append(time.perf_counter()))

    def worker(w: int) -> list[RequestTiming]:
        timings = []
        try:
            for i in range(config.warmup + config.repetitions):
                if i == config.warmup:
                    barrier.wait()
                timing = time_request(bundle, ids, list(workload.calls[(w + i) % len(workload.calls)]), gen)
                if i >= config.warmup:
                    timings.append(timing)
                if tick:
                    tick(1)
        except BaseException:
            barrier.abort()  # release the other threads rather than leave them waiting
            raise
        return timings

    with RssSampler() as rss:
        if config.concurrency == 1:
            timings = worker(0)
        else:
            timings = _run_threads(worker, config.concurrency)
        ended = time.perf_counter()

    lengths = tuple(prefix_length(bundle, n) for n in workload.calls[0])
    every = tuple(sorted({prefix_length(bundle, n) for call in workload.calls for n in call}))
    return Measurement(
        workload=workload,
        prefix_lengths=lengths,
        all_prefix_lengths=every,
        timings=timings,
        wall=ended - started[0],
        peak_rss=rss.peak,
    )


def _run_threads(worker, n: int) -> list[RequestTiming]:
    with ThreadPoolExecutor(n, thread_name_prefix="bench") as pool:
        futures = [pool.submit(worker, w) for w in range(n)]
        errors = [f.exception() for f in futures]
    real = [e for e in errors if e is not None and not isinstance(e, threading.BrokenBarrierError)]
    if real or any(errors):
        raise real[0] if real else errors[0]
    return [t for f in futures for t in f.result()]


def _first_prefix(plan: list[Workload | Skipped], names: list[str]) -> str | None:
    """The prefix of the first timed row (else the bundle's first prefix): the cold request uses it."""
    for item in plan:
        if isinstance(item, Workload):
            return item.calls[0][0]
    return names[0] if names else None
