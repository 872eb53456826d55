"""`prefixdeploy bench`: time a bundle under per-prefix, no-prefix, alternating and mixed-batch workloads.

Must not import torch (matplotlib only when a plot is written; psutil optional). Metrics use genai-perf's names:
TTFT, ITL (= TPOT), request latency, output/prefill token throughput; plus peak RSS, bundle load time and
load-to-first-token.

Scenarios (`--scenarios`, comma list; the first four by default):
  prefix       each prefix on its own, batch `--batch-size`
  no-prefix    no prefix, batch `--batch-size` (switchable bundles only; "skipped: baked" otherwise)
  alternating  the prefixes in turn, call by call (needs ≥ 2 prefixes)
  mixed-batch  a batch of `--batch-size` rows (8 when that is 1) cycling through the prefixes, the same batch
               with the longest prefix only, and that prefix at batch 1
  text-prefix  an instruction block of `--text-prefix-length` tokens (400) stored as a prefix made from text, against
               the same block placed before the prompt (no prefix); switchable bundles only
  prompt-lookup  decode tokens/s with and without `--prompt-lookup K` (10) on the prompts of `--inputs FILE` (the
               first chosen prefix; greedy, up to `--output-length` tokens, stopping at EOS), interleaved; also
               with the other inputs' answers as earlier outputs to draft from
  structured   the cost of a JSON-schema constraint (`--json-schema FILE`) on the prompts of `--inputs FILE` (the
               first chosen prefix; greedy, up to `--output-length` tokens, stopping at EOS): compile time (first,
               cached) and time per decode step constrained vs plain at batch 1 and 8, interleaved

JSON (`--json FILE`), schema "prefixdeploy.bench" version 1:
  schema, schema_version, bundle, mode, graph {file, precision, kind, recipe (int4: mixed | pure; else null)},
  config {prompt_length, output_length, batch_size, mixed_batch_size, concurrency, warmup, repetitions,
          scenarios, prefixes, text_prefix_length, provider, prompt_lookup,
          inputs, json_schema},
  machine {cpu, logical_cores, physical_cores, memory_bytes, platform, python, onnxruntime, date},
  load {bundle_load_s, load_to_first_token_s},
  memory {method: "psutil" | "getrusage", process_peak_rss_bytes},
  results: one object per row, in run order:
    skipped: {scenario, name, status: "skipped", reason}
    measured: {scenario, name, status: "ok", role, prefixes (per call, per row; null: none), prefix_lengths (rows of
      the first call), batch_size, concurrency, requests, input_sequence_length, output_sequence_length,
      time_to_first_token_s, inter_token_latency_s, request_latency_s, output_token_throughput_per_s (OSL·B /
      latency), prefill_token_throughput_per_s (ISL·B / TTFT): each {mean, min, max, std, p50, p90, p99} over the
      timed requests; total_output_token_throughput_per_s and request_throughput_per_s (all threads, over the wall
      time of the timed phase), peak_rss_bytes}
  ratios {prefix_vs_no_prefix_latency: {prefix: ratio} | null, alternating_vs_single_prefix_latency,
          mixed_vs_single_prefix_batch_throughput, batch_vs_batch1_throughput,
          text_prefix_vs_in_prompt_ttft}: see `report.ratios`.
  prompt_lookup: null, or {prefix, k, inputs, plain_decode_tokens_per_s, lookup_decode_tokens_per_s, speedup,
          acceptance, drafted, accepted, verifies, plain_steps, with_earlier_outputs {lookup_decode_tokens_per_s,
          speedup, acceptance, drafted, accepted, verifies, plain_steps}, mismatches}
  structured: null, or {prefix, schema, inputs, tokenizer_setup_ms, compile_ms, cached_compile_ms, batches: [{
          batch_size, plain_ms_per_step, constrained_ms_per_step, ratio, plain_steps, constrained_steps,
          plain_parsed, constrained_parsed ("n/N"), outputs_changed}]}
"""

from prefixdeploy.bench.config import SCENARIOS, BenchConfig
from prefixdeploy.bench.report import format_report, to_json
from prefixdeploy.bench.results import BenchRun
from prefixdeploy.bench.runner import run_bench

__all__ = ["SCENARIOS", "BenchConfig", "BenchRun", "format_report", "run_bench", "to_json"]
