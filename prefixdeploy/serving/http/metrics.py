"""Prometheus series of one server (its own registry, never the global one), rendered by `GET /metrics`.

`model` labels carry the request's model id (a prefix name or the base id); an unloaded prefix's series go with it
(`forget_model`), so load/unload cycles do not grow the page. prometheus-client is thread-safe, so the engine
thread's step callback can observe directly, and `render` may run in a worker thread.

The prompt-lookup counters are left out when `lookup_counters` is false: under `--lookup-history` a draft accepted
from another request's answer shows in them, so whoever reads /metrics learns that some client recently got a similar
answer (the server keeps them for admin keys only; docs/serving-security.md). The prompt cache's counter likewise
(`cache_counter`): a hit may come from another client's request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

NS = "prefixdeploy"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FINISH_REASONS = ("stop", "length", "abort")  # the values of request_success's finish_reason label


class ServerMetrics:
    def __init__(self, lookup_counters: bool = True, cache_counter: bool = True):
        self.registry = r = CollectorRegistry(auto_describe=True)
        self.running = Gauge(f"{NS}_requests_running", "Requests decoding in the engine.", registry=r)
        self.waiting = Gauge(f"{NS}_requests_waiting", "Requests queued for an engine row.", registry=r)
        self.prefixes = Gauge(f"{NS}_prefixes_loaded", "Prefixes served (bundle and runtime-loaded).", registry=r)
        self.prompt_tokens = Counter(
            f"{NS}_prompt_tokens", "Prompt tokens of admitted requests (prefix tokens excluded).", ["model"], registry=r
        )
        self.generation_tokens = Counter(f"{NS}_generation_tokens", "Tokens generated.", ["model"], registry=r)
        self.success = Counter(
            f"{NS}_request_success", "Finished requests by finish reason.", ["model", "finish_reason"], registry=r
        )
        self.rejected = Counter(f"{NS}_request_rejected", "Requests refused, by reason.", ["reason"], registry=r)
        self.ttft = Histogram(
            f"{NS}_time_to_first_token_seconds",
            "Arrival to first token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.inter_token = Histogram(
            f"{NS}_inter_token_latency_seconds",
            "Time between consecutive tokens of a request.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.e2e = Histogram(
            f"{NS}_e2e_request_latency_seconds",
            "Arrival to last token.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rows_per_step = Histogram(
            f"{NS}_rows_per_step", "Rows decoded per engine step.", buckets=ROW_BUCKETS, registry=r
        )
        self.prefill_per_step = Histogram(
            f"{NS}_prefill_tokens_per_step",
            "Prompt tokens prefilled per engine step.",
            buckets=ROW_BUCKETS,
            registry=r,
        )
        self.cached_tokens = Counter(
            f"{NS}_prompt_cache_hit_tokens",
            "Prompt tokens of admitted requests found in the prompt cache (not prefilled again).",
            registry=r if cache_counter else None,  # counted either way, rendered only if shown
        )
        self.by_model = (self.prompt_tokens, self.generation_tokens, self.ttft, self.inter_token, self.e2e)
        lookup = r if lookup_counters else None  # counted either way, rendered only if shown
        self.draft_tokens = Counter(
            f"{NS}_lookup_draft_tokens", "Prompt-lookup draft tokens verified (--prompt-lookup).", registry=lookup
        )
        self.accepted_tokens = Counter(
            f"{NS}_lookup_accepted_tokens", "Prompt-lookup draft tokens accepted (kept).", registry=lookup
        )

    def track(self, running: Callable[[], int], waiting: Callable[[], int], prefixes: Callable[[], int]) -> None:
        """Read the gauges from their owners at scrape time."""
        self.running.set_function(running)
        self.waiting.set_function(waiting)
        self.prefixes.set_function(prefixes)

    def on_step(self, stats) -> None:
        """The engine's step callback (runs on the engine thread)."""
        if stats.rows:
            self.rows_per_step.observe(stats.rows)
        if stats.prefill_tokens:
            self.prefill_per_step.observe(stats.prefill_tokens)
        if stats.cached:
            self.cached_tokens.inc(stats.cached)
        if stats.drafted:
            self.draft_tokens.inc(stats.drafted)
            self.accepted_tokens.inc(stats.accepted)

    def forget_model(self, model: str) -> None:
        """Drop every series labelled with `model` (an unloaded prefix)."""
        for metric in self.by_model:
            with contextlib.suppress(KeyError):  # older prometheus-clients raise for a series never observed
                metric.remove(model)
        for reason in FINISH_REASONS:
            with contextlib.suppress(KeyError):
                self.success.remove(model, reason)

    def render(self) -> bytes:
        return generate_latest(self.registry)
