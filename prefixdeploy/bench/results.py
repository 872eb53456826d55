"""The results of a benchmark run: one measured workload, and the whole run. Must not import torch.

The runner fills them; `report` and `plot` present them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prefixdeploy.bench.config import BenchConfig
from prefixdeploy.bench.lookup import LookupComparison
from prefixdeploy.bench.measure import RequestTiming
from prefixdeploy.bench.scenarios import Skipped, Workload
from prefixdeploy.bench.structured import StructuredComparison
from prefixdeploy.runtime.manifest import GraphEntry


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One workload's timed requests, with the prefix lengths its rows used and the memory it took."""

    workload: Workload
    prefix_lengths: tuple[int, ...]  # P of each row of the first call (0: no prefix)
    all_prefix_lengths: tuple[int, ...]  # every P any call of the workload uses, sorted (the table's P column)
    timings: list[RequestTiming]  # every timed request of every thread
    wall: float  # seconds from the threads' common start to the last one's end
    peak_rss: int  # bytes, see RssSampler


@dataclass(frozen=True, kw_only=True)
class BenchRun:
    """Everything measured; `report.to_json` and `report.format_report` present it."""

    config: BenchConfig
    mode: str
    graph: GraphEntry
    machine: dict
    load_s: float  # load_bundle() until it returns (session built, hashes checked, prefixes loaded)
    load_to_first_token_s: float  # load_bundle() called -> the first token of a first request
    rows: list[Measurement | Skipped]
    rss_method: str
    process_peak_rss: int
    lookup: LookupComparison | None = None  # the prompt-lookup scenario, when chosen
    structured: StructuredComparison | None = None  # the structured scenario, when chosen
