"""Drive a running OpenAI-compatible server: a concurrency sweep with a random model (prefix) per request.

The metric names are those of vLLM's `benchmark_serving.py`: request throughput (requests/s), output throughput
(tokens/s), TTFT (request sent -> first text), TPOT ((E2EL - TTFT) / (output tokens - 1), per request), ITL (the gap
between successive streamed chunks, pooled over requests) and E2EL (request sent -> last chunk). Requests stream with
`stream_options.include_usage`, so output tokens are the server's own count. httpx is imported here only.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from prefixdeploy.bench.measure import summarize
from prefixdeploy.errors import ConfigError, PrefixDeployError

DEFAULT_PROMPT = (
    "The committee met on Tuesday to review the quarterly figures. Sales in the northern region rose by twelve "
    "percent, while the southern offices reported a small decline. The chair asked for a short summary"
)


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    url: str  # the server's base URL, e.g. http://127.0.0.1:8000
    concurrencies: tuple[int, ...] = (1, 2, 4, 8, 16)
    requests_per_level: int = 0  # 0: max(16, 4 × concurrency)
    max_tokens: int = 32  # OSL; sent with ignore_eos so every request generates exactly this many
    prompt: str = DEFAULT_PROMPT
    models: tuple[str, ...] = ()  # model ids to draw from per request; empty: every id the server lists
    api_key: str | None = None
    seed: int = 0  # the draw of models per request
    rounds: int = 1  # each level's requests in this many parts, the levels taking turns (ratios robust to drift)
    timeout: float = 120.0  # seconds per request

    def __post_init__(self):
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"url must start with http:// or https://, got {self.url!r}", "url")
        if not self.concurrencies or min(self.concurrencies) < 1:
            raise ConfigError(f"concurrencies: each level must be ≥ 1, got {self.concurrencies}", "concurrencies")
        if self.rounds < 1:
            raise ConfigError(f"rounds must be ≥ 1, got {self.rounds}", "rounds")
        if self.requests_per_level < 0:
            raise ConfigError(
                f"requests_per_level must be ≥ 0 (0: the default), got {self.requests_per_level}", "requests_per_level"
            )
        if self.max_tokens < 2:
            raise ConfigError("max_tokens must be ≥ 2 (TPOT needs a second token)", "max_tokens")

    def requests_at(self, concurrency: int) -> int:
        return self.requests_per_level or max(16, 4 * concurrency)


@dataclass
class RequestRecord:
    model: str
    sent: float
    chunks: list[float] = field(default_factory=list)  # arrival time of every chunk that carried text
    output_tokens: int = 0
    error: str | None = None

    @property
    def ttft(self) -> float:
        return self.chunks[0] - self.sent

    @property
    def e2el(self) -> float:
        return self.chunks[-1] - self.sent

    @property
    def tpot(self) -> float:
        return (self.e2el - self.ttft) / max(self.output_tokens - 1, 1)


@dataclass(frozen=True)
class LevelResult:
    concurrency: int
    duration: float  # seconds from the first request sent to the last one done
    records: list[RequestRecord]

    @property
    def ok(self) -> list[RequestRecord]:
        return [r for r in self.records if r.error is None and r.chunks]

    def to_json(self) -> dict:
        ok = self.ok
        out_tokens = sum(r.output_tokens for r in ok)
        row = {
            "concurrency": self.concurrency,
            "completed": len(ok),
            "failed": len(self.records) - len(ok),
            "errors": sorted({r.error for r in self.records if r.error})[:5],
            "duration_s": self.duration,
            "request_throughput": len(ok) / self.duration,
            "output_throughput": out_tokens / self.duration,
        }
        if ok:
            itl = [b - a for r in ok for a, b in zip(r.chunks, r.chunks[1:])]
            for name, values in (
                ("ttft", [r.ttft for r in ok]),
                ("tpot", [r.tpot for r in ok]),
                ("itl", itl or [0.0]),
                ("e2el", [r.e2el for r in ok]),
            ):
                row[f"{name}_ms"] = {k: v * 1e3 for k, v in summarize(values).items()}
        return row


async def list_models(client, config: LoadConfig) -> list[str]:
    response = await client.get("/v1/models")
    if response.status_code != 200:
        message = await _error_message(response)
        raise PrefixDeployError(f"could not list the models of {config.url}: HTTP {response.status_code}: {message}")
    return [m["id"] for m in response.json()["data"]]


async def one_request(client, config: LoadConfig, model: str) -> RequestRecord:
    body = {
        "model": model,
        "prompt": config.prompt,
        "max_tokens": config.max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    record = RequestRecord(model, time.perf_counter())
    try:
        async with client.stream("POST", "/v1/completions", json=body, timeout=config.timeout) as response:
            if response.status_code != 200:
                record.error = f"HTTP {response.status_code}: {await _error_message(response)}"
                return record
            async for line in response.aiter_lines():
                _take_event(record, line)
    except Exception as e:  # a benchmark records failures and goes on
        record.error = type(e).__name__
    return record


async def _error_message(response) -> str:
    """The OpenAI error envelope's message, or the start of the body."""
    body = (await response.aread()).decode("utf-8", "replace")
    try:
        return str(json.loads(body)["error"]["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return body[:200]


def _take_event(record: RequestRecord, line: str) -> None:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return
    event = json.loads(line[len("data: ") :])
    if "error" in event:
        record.error = str(event["error"].get("code") or event["error"].get("type"))
    if event.get("choices") and event["choices"][0].get("text"):
        record.chunks.append(time.perf_counter())
    if event.get("usage"):
        record.output_tokens = event["usage"]["completion_tokens"]


async def run_level(client, config: LoadConfig, models: list[str], concurrency: int, requests: int, rng: random.Random):
    """`requests` requests, at most `concurrency` in flight, each for a model drawn at random."""
    draws = [rng.choice(models) for _ in range(requests)]
    queue: asyncio.Queue[str] = asyncio.Queue()
    for model in draws:
        queue.put_nowait(model)
    records: list[RequestRecord] = []

    async def worker():
        while not queue.empty():
            records.append(await one_request(client, config, queue.get_nowait()))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LevelResult(concurrency, time.perf_counter() - start, records)


async def run_rounds(client, config: LoadConfig, models: list[str]) -> list[LevelResult]:
    """Every level in `config.rounds` parts, round-robin (1, 8, 1, 8, ...): a slow spell of a shared machine then
    hits every level alike. A level's duration is the sum of its parts' (each part runs alone)."""
    rng = random.Random(config.seed)
    parts: dict[int, list[LevelResult]] = {c: [] for c in config.concurrencies}
    for round_ in range(config.rounds):
        for c in config.concurrencies:
            total = config.requests_at(c)
            n = total // config.rounds + (round_ < total % config.rounds)
            parts[c].append(await run_level(client, config, models, c, n, rng))
    return [LevelResult(c, sum(p.duration for p in ps), [r for p in ps for r in p.records]) for c, ps in parts.items()]


async def sweep(config: LoadConfig) -> dict:
    """Warm up once per model, then each concurrency level in turn; the JSON report of every level."""
    import httpx

    headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
    limits = httpx.Limits(max_connections=max(config.concurrencies) + 4)
    async with httpx.AsyncClient(base_url=config.url, headers=headers, limits=limits) as client:
        try:
            models = list(config.models) or await list_models(client, config)
        except httpx.HTTPError as e:
            raise PrefixDeployError(f"could not list the models of {config.url}: {e}") from None
        for model in models:  # warm-up, untimed
            await one_request(client, config, model)
        levels = await run_rounds(client, config, models)
    return {
        "url": config.url,
        "models": models,
        "max_tokens": config.max_tokens,
        "rounds": config.rounds,
        "levels": [level.to_json() for level in levels],
    }


def run_sweep(config: LoadConfig, json_path: Path | None = None) -> dict:
    report = asyncio.run(sweep(config))
    if json_path is not None:
        json_path.write_text(json.dumps(report, indent=2) + "\n")
    return report


def format_sweep(report: dict) -> str:
    head = ("conc", "done", "fail", "req/s", "out tok/s", "TTFT p50/p99", "TPOT p50/p99", "ITL p50/p99", "E2EL p50/p99")
    lines = [" | ".join(head)]
    for row in report["levels"]:
        cells = [str(row["concurrency"]), str(row["completed"]), str(row["failed"])]
        cells += [f"{row['request_throughput']:.2f}", f"{row['output_throughput']:.1f}"]
        for name in ("ttft", "tpot", "itl", "e2el"):
            stats = row.get(f"{name}_ms")
            cells.append(f"{stats['p50']:.1f} / {stats['p99']:.1f} ms" if stats else "-")
        lines.append(" | ".join(cells))
    lines.append(f"models drawn at random per request: {', '.join(report['models'])}")
    return "\n".join(lines)
