"""`prefixdeploy bench --url`: the concurrency sweep against a real server on 127.0.0.1, and its one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from server_process import KEY
from user_errors import assert_user_error

from prefixdeploy.cli import main


def test_a_sweep_reports_every_level_with_the_server_s_own_token_counts(server, tmp_path):
    out = tmp_path / "sweep.json"
    args = ["bench", "--url", server.url, "--sweep", "1,2", "--requests", "3", "--rounds", "2", "--output-length", "4"]
    args += ["--prompt", "a short note about trains:"]
    result = CliRunner().invoke(main, [*args, "--api-key", KEY, "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    with server.http() as http:
        served = [m["id"] for m in http.get("/v1/models").json()["data"]]
    assert report["models"] == served and report["rounds"] == 2  # each level as 2 + 1 requests, taking turns
    levels = report["levels"]
    assert [(row["concurrency"], row["completed"], row["failed"]) for row in levels] == [(1, 3, 0), (2, 3, 0)]
    assert all(row["output_throughput"] > 0 and row["ttft_ms"]["p99"] >= row["ttft_ms"]["p50"] for row in levels)
    assert "conc | done | fail" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "needs a BUNDLE, or --url"),
        (["--url", "ftp://127.0.0.1:9"], "--url must start with http://"),
        (["--url", "http://127.0.0.1:9", "--sweep", "1,x"], "--sweep must be a comma list"),
        (["--url", "http://127.0.0.1:9", "--sweep", "0"], "--sweep: each level must be ≥ 1"),
        (["--url", "http://127.0.0.1:9", "--requests", "-1"], "--requests must be ≥ 0"),
        (["--url", "http://127.0.0.1:9", "--rounds", "0"], "--rounds must be ≥ 1"),
        (["--url", "http://127.0.0.1:9"], "could not list the models of http://127.0.0.1:9"),  # nothing listens
    ],
)
def test_bad_sweeps_are_one_line_errors(args, needle):
    result = CliRunner().invoke(main, ["bench", *args])
    assert_user_error(result.exit_code, result.stderr, needle)


def test_a_wrong_key_is_one_line_error(server):
    result = CliRunner().invoke(main, ["bench", "--url", server.url, "--api-key", "wrong", "--sweep", "1"])
    assert_user_error(result.exit_code, result.stderr, "could not list the models", "401")
