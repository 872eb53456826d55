"""Reference cases stored in a bundle at export, and `prefixdeploy check`, which re-runs them with the runtime alone.

Must not import torch. At export, the portable fp32 graph run by ONNX Runtime on the CPU generates a few greedy
continuations in one mixed batch (a row per prefix, and a row without a prefix in switchable bundles); `check`
replays them one row at a time, so batching with padding is checked too. `checks/reference.json` keeps each
case's prompt ids, prefix, new token ids and, per step, the ids and values of the highest logits. On the target
(a Jetson, another CPU, the TensorRT backend, a GPU provider) `prefixdeploy check BUNDLE` replays them: a first
run there is a one-command parity check that needs neither torch nor the model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from prefixdeploy.errors import BundleError, ConfigError
from prefixdeploy.runtime.bundle import Bundle, load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import Manifest
from prefixdeploy.runtime.providers import CPU, PROVIDERS

CHECKS_FILE = "checks/reference.json"
SCHEMA, SCHEMA_VERSION = "prefixdeploy.checks", 1
NEW_TOKENS = 16  # greedy tokens per case, EOS ignored
TOP_K = 8  # logits kept per step: enough to compare the contenders, small enough to stay a few KB
MAX_PREFIX_CASES = 4
PROMPTS = (
    "The quick brown fox jumps over the lazy dog because",
    "Question: what is the capital of France?\nAnswer:",
)


@dataclass(frozen=True)
class ReferenceCase:
    name: str
    prefix: str | None  # None: no prefix (switchable bundles)
    prompt_ids: list[int]
    token_ids: list[int]  # NEW_TOKENS greedy tokens of the reference graph
    top_ids: list[list[int]]  # per step, the TOP_K highest logits' token ids, highest first
    top_logits: list[list[float]]  # their float32 values


def reference_cases(bundle: Bundle, new_tokens: int = NEW_TOKENS, top_k: int = TOP_K) -> list[ReferenceCase]:
    """Greedy runs of `bundle`: one case per prefix (at most MAX_PREFIX_CASES), plus one without (switchable)."""
    names: list[str | None] = list(bundle.manifest.prefix_names[:MAX_PREFIX_CASES])
    if bundle.manifest.mode == "switchable":
        names.append(None)
    prompts = [_fitting_prompt(bundle, PROMPTS[i % len(PROMPTS)], name, new_tokens) for i, name in enumerate(names)]
    tokens, logits = _greedy(bundle, prompts, names, new_tokens)  # (B, N), (B, N, V): one mixed batch
    top = np.argsort(-logits, axis=2, kind="stable")[:, :, :top_k]  # (B, N, K)
    values = np.take_along_axis(logits, top, axis=2).astype(float)  # (B, N, K)
    return [
        ReferenceCase(f"{name or '(no prefix)'}/{i}", name, prompts[i], tokens[i], top[i].tolist(), values[i].tolist())
        for i, name in enumerate(names)
    ]


def _fitting_prompt(bundle: Bundle, text: str, prefix: str | None, new_tokens: int) -> list[int]:
    p = bundle.resolve(prefix)
    room = bundle.manifest.max_context - (p.num_virtual_tokens if p else 0) - new_tokens
    return bundle.encode(text)[: max(room, 1)]


def _greedy(bundle: Bundle, prompts: list[list[int]], prefixes: list[str | None], n: int):
    """Greedy new tokens (B lists of n) and the logits they were picked from, (B, n, V) float32."""
    steps = list(bundle.steps(prompts, prefixes, GenerationConfig(max_new_tokens=n, ignore_eos=True)))
    tokens = np.stack([s.tokens for s in steps], axis=1)  # (B, n)
    return tokens.tolist(), np.stack([s.logits for s in steps], axis=1).astype(np.float32)  # (B, n, V)


def add_reference_cases(directory: Path, manifest: Manifest, graph: str) -> Manifest:
    """Generate the cases with `graph` (the portable fp32 graph) of the bundle being written in `directory`, whose
    manifest is `manifest` (not written yet); write them and return the manifest that lists them (its `files` are
    the caller's to hash)."""
    with load_bundle(directory, graph=graph, verify_hashes=False, manifest=manifest) as bundle:
        cases = reference_cases(bundle)
    path = directory / CHECKS_FILE
    path.parent.mkdir(exist_ok=True)
    data = {"format": SCHEMA, "format_version": SCHEMA_VERSION, "graph": graph, "provider": CPU}
    path.write_text(json.dumps({**data, "cases": [asdict(c) for c in cases]}, separators=(",", ":")) + "\n")
    return replace(manifest, checks=CHECKS_FILE)


def read_reference_cases(directory: Path, manifest: Manifest) -> list[ReferenceCase]:
    if manifest.checks is None:
        raise BundleError(
            f"bundle {directory} has no reference cases (exported before `prefixdeploy check` existed); "
            "re-export it to add them"
        )
    try:
        data = json.loads((directory / manifest.checks).read_text())
        if data.get("format") != SCHEMA or data.get("format_version") != SCHEMA_VERSION:
            raise ValueError(f"format {data.get('format')} {data.get('format_version')}")
        return [ReferenceCase(**case) for case in data["cases"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BundleError(f"cannot read the reference cases {manifest.checks}: {e}; re-export the bundle") from None


# -- prefixdeploy check -------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CheckConfig:
    bundle: Path
    backend: str = "ort"  # ort | trt
    provider: str = CPU  # ONNX Runtime execution provider (backend ort)
    precision: str | None = None  # which graph (None: the first the backend and provider run)
    atol: float = 1e-2  # max |Δ logits| allowed on fp32 runs (the same default as `verify`)

    def __post_init__(self):
        object.__setattr__(self, "bundle", Path(self.bundle))
        if self.provider not in PROVIDERS:
            raise ConfigError(f"provider must be one of {', '.join(PROVIDERS)}, got {self.provider!r}", "provider")
        if not self.atol >= 0:
            raise ConfigError(f"atol must be ≥ 0, got {self.atol}", "atol")


@dataclass(frozen=True)
class CaseResult:
    case: ReferenceCase
    tokens_equal: int  # new tokens equal to the reference's, position by position
    max_abs_diff: float  # over the reference's top logits, up to the first differing token (same history)

    @property
    def total(self) -> int:
        return len(self.case.token_ids)


@dataclass(frozen=True)
class CheckReport:
    graph: str  # the graph file run
    precision: str  # the precision it ran at, with int4's recipe (`GraphEntry.weights`: "int4 pure")
    strict: bool  # fp32: tokens must equal and logits be within atol; else agreement is only reported
    atol: float
    results: list[CaseResult]
    skipped: list[str]  # cases whose prefix the bundle no longer has (prefixdeploy remove-prefix)

    def passed(self, result: CaseResult) -> bool:
        return not self.strict or (result.tokens_equal == result.total and result.max_abs_diff <= self.atol)

    @property
    def ok(self) -> bool:
        return all(self.passed(r) for r in self.results)


def run_checks(config: CheckConfig) -> CheckReport:
    """Replay the bundle's reference cases on the chosen backend, provider and precision."""
    options = {"backend": config.backend, "provider": config.provider, "precision": config.precision}
    with load_bundle(config.bundle, **options) as bundle:
        cases = read_reference_cases(config.bundle, bundle.manifest)
        kept = [c for c in cases if c.prefix is None or c.prefix in bundle.prefixes]  # remove-prefix drops some
        results = [_replay(bundle, case) for case in kept]
        removed = [c.name for c in cases if c not in kept]
        graph = bundle.graph
        strict = graph.precision == "fp32"
        return CheckReport(graph.file, graph.weights, strict, config.atol, results=results, skipped=removed)


def _replay(bundle: Bundle, case: ReferenceCase) -> CaseResult:
    (tokens,), (logits,) = _greedy(bundle, [case.prompt_ids], [case.prefix], len(case.token_ids))  # (N,), (N, V)
    same = [a == b for a, b in zip(tokens, case.token_ids)]
    first_diff = same.index(False) if False in same else len(same)
    compared = slice(0, min(first_diff + 1, len(same)))  # step i's history is equal while tokens[:i] are
    ids, want = np.array(case.top_ids)[compared], np.array(case.top_logits)[compared]  # (n, K), (n, K)
    got = np.take_along_axis(logits[compared], ids, axis=1)  # (n, K)
    return CaseResult(case, sum(same), float(np.abs(got - want).max()))


def format_report(report: CheckReport) -> str:
    """One line per case: prefix, tokens equal n/N, max |Δ logits|, verdict."""
    how = (
        f"fp32: tokens must be equal and logits within {report.atol:g}"
        if report.strict
        else (f"{report.precision}: agreement with the fp32 reference is reported, not required")
    )
    lines = [f"graph {report.graph} ({how})", f"{'case':<24} {'tokens equal':>12} {'max |Δ logits|':>15}  result"]
    for r in report.results:
        verdict = ("ok" if report.passed(r) else "MISMATCH") if report.strict else "info"
        lines.append(f"{r.case.name:<24} {f'{r.tokens_equal}/{r.total}':>12} {r.max_abs_diff:>15.2e}  {verdict}")
    lines += [f"{name:<24} {'-':>12} {'-':>15}  skipped: prefix removed" for name in report.skipped]
    return "\n".join(lines)
