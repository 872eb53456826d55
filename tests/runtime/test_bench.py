"""`prefixdeploy bench` on the tiny bundles: every scenario runs and reports sane numbers, the JSON has the
documented keys, the plot is a real PNG, bad options are one-line errors. Speed itself is never asserted.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from repo_root import ROOT

from prefixdeploy.cli import main

REPS, WARMUP = 3, 1
FAST = ("--repetitions", str(REPS), "--warmup", str(WARMUP), "--prompt-length", "20", "--output-length", "6")
STATS = {"mean", "min", "max", "std", "p50", "p90", "p99"}
TIMES = ("time_to_first_token_s", "inter_token_latency_s", "request_latency_s")
RATES = ("output_token_throughput_per_s", "prefill_token_throughput_per_s")


def bench(*args):
    return CliRunner().invoke(main, ["bench", *(str(a) for a in args)])


@pytest.fixture(scope="module")
def switchable(tiny_bundle, tmp_path_factory):
    """One full run on the switchable bundle with --json and --plot: (result, parsed JSON, plot path)."""
    out = tmp_path_factory.mktemp("bench")
    result = bench(tiny_bundle("switchable"), *FAST, "--json", out / "r.json", "--plot", out / "r.png")
    assert result.exit_code == 0, result.output
    return result, json.loads((out / "r.json").read_text()), out / "r.png"


def check_row(row: dict, requests: int, osl: int = 6, isl: int = 20) -> None:
    assert row["status"] == "ok", row
    assert row["requests"] == requests
    assert (row["input_sequence_length"], row["output_sequence_length"]) == (isl, osl)
    assert row["batch_size"] == len(row["prefixes"][0]) == len(row["prefix_lengths"])
    for key in TIMES + RATES:
        s = row[key]
        assert set(s) == STATS, key
        assert 0 < s["min"] <= s["p50"] <= s["p90"] <= s["p99"] <= s["max"], (key, s)
    # TTFT and TPOT fit inside the request latency: latency = TTFT + (OSL − 1)·TPOT per request.
    assert row["time_to_first_token_s"]["min"] < row["request_latency_s"]["max"]
    assert row["inter_token_latency_s"]["max"] * (osl - 1) < row["request_latency_s"]["max"]
    assert row["total_output_token_throughput_per_s"] > 0 and row["request_throughput_per_s"] > 0
    assert row["peak_rss_bytes"] > 10 << 20


def test_every_scenario_runs_with_sane_fields(switchable):
    _, data, _ = switchable
    rows = {r["name"]: r for r in data["results"]}
    assert list(rows) == [
        "prefix summ", "prefix qa", "no prefix", "alternating summ/qa", "mixed ×8", "qa ×8", "qa ×1",
    ]  # fmt: skip
    for row in rows.values():
        check_row(row, REPS)
    assert rows["prefix summ"]["prefix_lengths"] == [5] and rows["prefix qa"]["prefix_lengths"] == [8]
    assert rows["no prefix"]["prefixes"] == [[None]] and rows["no prefix"]["prefix_lengths"] == [0]
    assert rows["alternating summ/qa"]["prefixes"] == [["summ"], ["qa"]]
    assert rows["mixed ×8"]["prefix_lengths"] == [5, 8] * 4
    assert rows["qa ×8"]["prefixes"] == [["qa"] * 8] and rows["qa ×1"]["batch_size"] == 1
    ratios = data["ratios"]
    assert set(ratios["prefix_vs_no_prefix_latency"]) == {"summ", "qa"}
    for name in ("alternating_vs_single_prefix_latency", "mixed_vs_single_prefix_batch_throughput"):
        assert ratios[name] > 0
    assert ratios["batch_vs_batch1_throughput"] > 0
    assert data["load"]["bundle_load_s"] > 0
    assert data["load"]["load_to_first_token_s"] > data["load"]["bundle_load_s"]


def test_json_has_the_documented_keys(switchable):
    _, data, _ = switchable
    assert data["schema"] == "prefixdeploy.bench" and data["schema_version"] == 1
    assert set(data) == {
        "schema", "schema_version", "bundle", "mode", "graph", "config", "machine", "load", "memory", "results",
        "ratios", "prompt_lookup", "structured",
    }  # fmt: skip
    assert data["prompt_lookup"] is None and data["structured"] is None  # not default scenarios
    assert data["mode"] == "switchable"
    assert set(data["graph"]) == {"file", "precision", "kind", "recipe"}
    assert data["config"]["repetitions"] == REPS and data["config"]["mixed_batch_size"] == 8
    assert data["config"]["scenarios"] == ["prefix", "no-prefix", "alternating", "mixed-batch"]
    assert {"cpu", "logical_cores", "onnxruntime", "date"} <= set(data["machine"])
    assert data["memory"]["method"] in ("psutil", "getrusage") and data["memory"]["process_peak_rss_bytes"] > 0
    assert set(data["ratios"]) == {
        "prefix_vs_no_prefix_latency", "alternating_vs_single_prefix_latency",
        "mixed_vs_single_prefix_batch_throughput", "batch_vs_batch1_throughput", "text_prefix_vs_in_prompt_ttft",
    }  # fmt: skip
    assert data["ratios"]["text_prefix_vs_in_prompt_ttft"] is None  # not a default scenario


def test_prints_an_aligned_table_and_the_ratios(switchable):
    result, data, _ = switchable
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("scenario"))
    table = lines[header : header + 2 + len(data["results"])]
    assert "TTFT p50 ms" in table[0] and "TPOT p50 ms" in table[0] and set(table[1]) <= {"-", " "}
    for row, line in zip(data["results"], table[2:]):
        assert line.index(row["name"]) == table[0].index("name")  # columns start where their header does
        assert len(line) == len(table[0])  # numbers right-aligned under their headers
    for needle in ("prefix on / no prefix", "alternating / single prefix", "mixed batch ×8", "batch ×1, tokens/s"):
        assert needle in result.stdout
    assert "load to first token" in result.stdout


def test_plot_is_a_real_png(switchable):
    from matplotlib.image import imread

    _, _, png = switchable
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # three panels with text, bars and lines, not an empty canvas
    pixels = imread(png)  # (H, W, 4)
    assert pixels.shape[0] > 300 and pixels.shape[1] > 900
    assert pixels[..., :3].std() > 0.05  # something was drawn


def test_baked_bundle_skips_no_prefix(tiny_bundle, tmp_path):
    result = bench(tiny_bundle("baked"), *FAST, "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    rows = {r["scenario"] + "/" + r["name"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert rows["no-prefix/no prefix"] == {
        "scenario": "no-prefix", "name": "no prefix", "status": "skipped", "reason": "baked",
    }  # fmt: skip
    assert "skipped: baked" in result.stdout
    assert rows["alternating/alternating summ"]["status"] == "skipped"  # one baked prefix: nothing to alternate
    check_row(rows["prefix/prefix summ"], REPS)
    check_row(rows["mixed-batch/summ ×8"], REPS)


def test_concurrency_batch_size_graph_and_prefix_options(tiny_bundle, tmp_path):
    bundle = tiny_bundle("switchable")
    graph = json.loads((bundle / "manifest.json").read_text())["graphs"][-1]["file"]
    args = ("--concurrency", "2", "--batch-size", "3", "--prefix", "qa", "--graph", graph)
    result = bench(bundle, *FAST, *args, "--scenarios", "prefix,mixed-batch,alternating", "--json", tmp_path / "r.json")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["graph"]["file"] == graph
    rows = {r["name"]: r for r in data["results"]}
    assert list(rows) == ["prefix qa", "alternating qa", "mixed ×3", "qa ×3", "qa ×1"]  # run in the canonical order
    for name in ("prefix qa", "qa ×3", "qa ×1"):
        check_row(rows[name], 2 * REPS)
        assert rows[name]["concurrency"] == 2
    assert rows["prefix qa"]["batch_size"] == 3
    assert rows["mixed ×3"]["status"] == rows["alternating qa"]["status"] == "skipped"


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--batch-size", "0"], "--batch-size must be an integer ≥ 1"),
        (["--output-length", "1"], "--output-length must be an integer ≥ 2"),
        (["--repetitions", "0"], "--repetitions"),
        (["--scenarios", "prefix,bogus"], "bogus"),
        (["--plot", "latency.svg"], ".png"),
        (["--json", "/nonexistent/dir/r.json"], "does not exist"),
        (["--prefix", "nope"], "unknown prefix 'nope'"),
        (["--graph", "nope.onnx"], "nope.onnx"),
        (["--prompt-length", "120"], "exceeds the model's context"),
    ],
)
def test_bad_options_are_one_line_errors(args, needle, tiny_bundle):
    result = bench(tiny_bundle("switchable"), *args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert needle in lines[0]


def test_missing_bundle_is_a_one_line_error(tmp_path):
    result = bench(tmp_path / "none")
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1


def test_bench_runs_without_heavy_packages_or_psutil(tiny_bundle):
    """The bench is part of the runtime: no torch; psutil is optional (getrusage instead)."""
    blocked = ("torch", "transformers", "peft", "onnx", "psutil")
    args = ["bench", str(tiny_bundle("switchable")), *FAST, "--scenarios", "prefix"]
    code = (
        f"import sys\nfor n in {blocked!r}: sys.modules[n] = None\n"
        f"from prefixdeploy.cli import main\nmain({args!r}, standalone_mode=False)\n"
        f"heavy = [m for m in sys.modules if m.split('.')[0] in {blocked!r} and sys.modules[m] is not None]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert "getrusage" in done.stdout and "prefix qa" in done.stdout


def test_text_prefix_scenario_times_the_block_stored_and_in_the_prompt(tiny_bundle, tmp_path):
    args = ["--scenarios", "text-prefix", "--text-prefix-length", "40", "--json", tmp_path / "r.json"]
    result = bench(tiny_bundle("switchable"), *FAST, *args)
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "r.json").read_text())
    stored, in_prompt = data["results"]
    assert (stored["name"], in_prompt["name"]) == ("text 40 stored as prefix", "text 40 in the prompt")
    check_row(stored, REPS)
    check_row(in_prompt, REPS, isl=60)  # the block is part of the prompt
    assert stored["prefix_lengths"] == [40] and in_prompt["prefix_lengths"] == [0]
    assert data["ratios"]["text_prefix_vs_in_prompt_ttft"] > 0
    assert "text block stored as prefix / in the prompt, TTFT" in result.stdout


def test_text_prefix_scenario_says_why_it_cannot_run(tiny_bundle):
    result = bench(tiny_bundle("switchable"), *FAST, "--scenarios", "prefix,text-prefix")  # 400 tokens > 128
    assert result.exit_code == 0, result.output
    assert "skipped: block 400 + prompt + output = 426 tokens exceeds the context of 128" in result.stdout
    result = bench(tiny_bundle("baked"), *FAST, "--scenarios", "prefix,text-prefix", "--text-prefix-length", "40")
    assert result.exit_code == 0 and "skipped: baked" in result.stdout
