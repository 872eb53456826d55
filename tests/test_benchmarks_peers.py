"""benchmarks/serving_peers.py's arithmetic without the peers (building llama-server and installing vLLM takes
minutes, so the real run is `make bench-peers`, not CI): rows averaged over rounds, the issue's target ratios, the
report and its plot from a fixed set of measurements. Speed itself is never asserted."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

pytest.importorskip("matplotlib")


def record(row: str, weights: str, clients: int, tok_s: float, round_: int = 0, **extra) -> dict:
    metrics = {"median_ttft_ms": 50.0, "p99_ttft_ms": 90.0, "median_tpot_ms": 10.0, "p99_itl_ms": 20.0} | extra
    return {"row": row, "weights": weights, "round": round_, "clients": clients, "completed": 8, "failed": 0,
            "memory_mib": 400.0, "startup_s": 2.0, "output_throughput": tok_s, **metrics}  # fmt: skip


def test_rows_targets_and_report(tmp_path):
    import serving_peers
    from peers_report import targets, write_report

    records = [
        record("prefixdeploy int4", "int4", 1, 100.0, round_=0),
        record("prefixdeploy int4", "int4", 1, 120.0, round_=1),  # the mean of the rounds: 110
        record("prefixdeploy int4 + prefix", "int4", 1, 108.0),
        record("prefixdeploy int4 mixed-dynamic", "int4 mixed-dynamic", 1, 99.0),
        record("prefixdeploy int8 dynamic", "int8 dynamic", 1, 130.0),  # the best of ours at the last level
        record("prefixdeploy int8 dynamic, mixed steps", "int8 dynamic", 1, 104.0),
        record("llama-server Q8_0", "Q8_0", 1, 100.0),
        record("llama-server Q4_0", "Q4_0", 1, 100.0, median_tpot_ms=8.0),
        record("vLLM CPU bfloat16", "bf16", 1, 120.0),
    ]
    rows = serving_peers.table(records, [1])
    assert rows["prefixdeploy int4"]["output_throughput@1"] == 110.0
    measured = {what: (value, met) for what, value, _, met in targets(rows, [1])}
    assert measured["prefixdeploy int4 ÷ llama-server Q4_0 tok/s at 1"] == (1.1, True)
    assert measured["prefixdeploy int4 mixed-dynamic ÷ llama-server Q4_0 tok/s at 1"] == (0.99, False)
    assert measured["int4 ÷ Q4_0 time per output token alone"] == (1.25, False)
    assert measured["prefixdeploy int8 dynamic ÷ vLLM bf16 tok/s at 1"] == (pytest.approx(130 / 120), True)
    assert measured["prefixdeploy int8 dynamic ÷ llama-server Q8_0 tok/s at 1"] == (1.3, True)
    assert measured["prefixdeploy int4 + prefix ÷ base at 1"] == (pytest.approx(108 / 110), True)
    assert measured["prefixdeploy int8 ÷ llama-server Q8_0 tok/s at 1"] == (None, None)  # not measured: no verdict
    assert "prefixdeploy int4 ÷ vLLM bf16 tok/s at 1" not in measured  # only the best of ours is paired with bf16

    args = argparse.Namespace(levels=[1], requests=[8], rounds=2, input_len=56, output_len=32, slots=16,
                              out=tmp_path / "SERVING-PEERS.md")  # fmt: skip
    write_report(args, rows, records, "2026-12-07 00:00")
    report = args.out.read_text()
    assert "| prefixdeploy int4 | int4 | 110 |" in report and "| **no** |" in report
    assert "| prefixdeploy int8 dynamic | 0.80 |" in report  # with mixed steps ÷ without
    assert args.out.with_suffix(".png").stat().st_size > 0 and args.out.with_suffix(".json").is_file()


def test_extra_rows_serve_another_bundle_side_by_side():
    import serving_peers

    args = serving_peers.parse_args(["--extra", "int8 dynamic, before=/b/old:int8", "--extra", "x=/b/new:int4:int8"])
    before, other = (serving_peers.extra_server(spec, args) for spec in args.extra)
    assert before.name == "prefixdeploy int8 dynamic, before" and before.weights == "int8 dynamic, before"
    assert "/b/old" in before.command and before.command[before.command.index("--precision") + 1] == "int8"
    assert "--batch-precision" not in before.command
    assert other.command[other.command.index("--batch-precision") + 1] == "int8"
    chunks = serving_peers.extra_server("chunks of 64=/b/new:int8 --max-prefill-tokens 64", args)
    assert chunks.name == "prefixdeploy chunks of 64" and chunks.command[-2:] == ["--max-prefill-tokens", "64"]
    before_code = serving_peers.extra_server(f"old code@{ROOT}=/b/new:int4", args)  # a source tree: PYTHONPATH
    assert before_code.name == "prefixdeploy old code" and before_code.env["PYTHONPATH"] == str(ROOT)
    assert "PYTHONPATH" not in chunks.env
    for bad in ("no-equals", "label=/b", "label=/b:int4:int8:fp32", "label= --mixed-steps", "x@/nowhere=/b:int4"):
        with pytest.raises(SystemExit, match="BUNDLE:PRECISION"):
            serving_peers.extra_server(bad, args)


def test_a_row_of_another_tree_runs_that_tree_s_code_started_from_any_checkout(tmp_path, monkeypatch):
    """`python -m` puts the working directory ahead of PYTHONPATH: a row @TREE started from a checkout ran that
    checkout's code. It starts in TREE now; rows without a tree start in this checkout, wherever the benchmark runs."""
    import serving_peers

    tree = tmp_path / "tree"
    (tree / "prefixdeploy" / "cli").mkdir(parents=True)
    (tree / "prefixdeploy" / "__init__.py").write_text("")
    (tree / "prefixdeploy" / "cli" / "__init__.py").write_text("")
    (tree / "prefixdeploy" / "cli" / "__main__.py").write_text("import prefixdeploy\nprint(prefixdeploy.__file__)\n")
    monkeypatch.chdir(ROOT)  # a checkout with a prefixdeploy of its own
    args = serving_peers.parse_args([])
    old = serving_peers.extra_server(f"old@{tree}=/b/new:int4", args)
    env = {**os.environ, **old.env}
    done = subprocess.run(old.command, cwd=old.cwd, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == str(tree / "prefixdeploy" / "__init__.py"), done.stderr[-500:]
    this = serving_peers.extra_server("this=/b/new:int4", args)
    assert this.cwd == ROOT and "PYTHONPATH" not in this.env


def test_base_and_prefix_passes_take_turns_going_first():
    import serving_peers

    args = serving_peers.parse_args([])
    ours = serving_peers.extra_server("x=/b/new:int4", args)
    assert [serving_peers.models_of(ours, r) for r in (0, 1, 2)] == [
        [ours.model, serving_peers.PREFIX],
        [serving_peers.PREFIX, ours.model],
        [ours.model, serving_peers.PREFIX],
    ]
    peer = serving_peers.Server("llama-server Q4_0", "Q4_0", ["llama-server"], "m")
    assert serving_peers.models_of(peer, 1) == ["m"]


def test_prefix_pairs_pool_same_round_same_level_ratios(tmp_path, capsys):
    import json

    import prefix_pairs

    records = [
        record("prefixdeploy int4", "int4", 1, 100.0, round_=0),
        record("prefixdeploy int4 + prefix", "int4", 1, 90.0, round_=0),
        record("prefixdeploy int4", "int4", 1, 50.0, round_=1),
        record("prefixdeploy int4 + prefix", "int4", 1, 55.0, round_=1),
        record("prefixdeploy int4 + prefix", "int4", 8, 70.0, round_=1),  # no base pass at 8: no pair
        record("llama-server Q4_0", "Q4_0", 1, 80.0, round_=0),
    ]
    assert prefix_pairs.prefix_ratios(records) == [0.9, 1.1]
    s = prefix_pairs.summary([0.9, 1.1, 1.0, 0.95])
    assert s["pairs"] == 4 and s["median"] == 0.975 and s["low"] <= s["geomean"] <= s["high"]
    run = tmp_path / "run.json"
    run.write_text(json.dumps({"records": records}))
    prefix_pairs.main([str(run)])
    assert "| pooled | 2 | 1.000 |" in capsys.readouterr().out


def test_the_light_client_reports_a_level_in_vllm_bench_serve_s_names(served_bundle, tmp_path):
    """`--client light`: one level of `prefixdeploy bench --url` against a real server (the tiny bundle), read back
    under the names the report takes from `vllm bench serve`."""
    import serving_peers
    from peers import Server
    from server_process import running_server

    with running_server(served_bundle, key=None) as process:
        server = Server("prefixdeploy tiny", "fp32", [], model="summ", port=int(process.url.rsplit(":", 1)[1]))
        args = argparse.Namespace(output_len=4, light_prompt="once upon a time")  # the tiny model's context is 128
        result = serving_peers.bench_light(None, None, server, "summ", 2, 6, args, tmp_path / "level.json")
    assert (result["completed"], result["failed"]) == (6, 0)
    assert all(result[m] is not None and result[m] >= 0 for m in serving_peers.METRICS)
