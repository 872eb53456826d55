"""`prefixdeploy serve` on the command line: options into ServeConfig, one-line errors (exit 2), and a runtime-only
install (no fastapi) where `--help` works and `serve` names the extra to install."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.serving.http.config import ServeConfig

ROOT_ARGS = dict(cwd=str(__import__("server_process").ROOT), capture_output=True, text=True)
NO_SERVE_EXTRA = (
    "import sys\nfor n in ('fastapi', 'uvicorn', 'starlette', 'prometheus_client'): sys.modules[n] = None\n"
)


def test_runtime_only_install_helps_and_names_the_extra(served_bundle):
    help_ = subprocess.run(
        [sys.executable, "-c", NO_SERVE_EXTRA + "from prefixdeploy.cli import main\nmain(['--help'])"], **ROOT_ARGS
    )
    assert help_.returncode == 0 and "serve" in help_.stdout
    code = NO_SERVE_EXTRA + f"from prefixdeploy.cli import main\nmain(['serve', {str(served_bundle)!r}])"
    done = subprocess.run([sys.executable, "-c", code], **ROOT_ARGS)
    assert_user_error(done.returncode, done.stderr, "prefixdeploy[serve]")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--max-num-seqs", "0"], "--max-num-seqs"),
        (["--max-queue", "0"], "--max-queue"),
        (["--max-prefill-tokens", "0"], "--max-prefill-tokens"),
        (["--prompt-lookup", "-1"], "--prompt-lookup"),
        (["--prompt-lookup", "65"], "between 0 (off) and 64"),
        (["--lookup-history", "4"], "give --prompt-lookup K too"),
        (["--request-timeout", "-1"], "--request-timeout"),
        (["--port", "70000"], "--port"),
        (["--max-body-bytes", "10"], "--max-body-bytes"),
        (["--max-connections", "0"], "--max-connections"),
        (["--header-timeout", "0"], "--header-timeout"),
        (["--body-timeout", "inf"], "--body-timeout"),
        (["--allow-runtime-prefixes", "/nonexistent/dir"], "--allow-runtime-prefixes"),
        (["--api-key", " "], "--api-key"),
        (["--provider", "cuda"], "pip install onnxruntime-gpu"),  # this onnxruntime has no CUDA provider
        (["--provider", "tensorrt"], "--provider tensorrt cannot serve"),  # the engine refuses the portable graph
    ],
)
def test_bad_options_are_one_line_errors(served_bundle, args, needle):
    result = CliRunner().invoke(main, ["serve", str(served_bundle), *args])
    assert_user_error(result.exit_code, result.stderr, needle)


def test_a_missing_bundle_fails_before_listening(tmp_path):
    result = CliRunner().invoke(main, ["serve", str(tmp_path / "nope")])
    assert_user_error(result.exit_code, result.stderr, "not a bundle directory")


def test_tensorrt_provider_is_refused_before_listening(served_bundle):
    """The TensorRT provider runs the portable graph, which the engine refuses: say so before binding the port
    (the port here is taken, so a bind first would fail with 'cannot listen' instead)."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        result = CliRunner().invoke(main, ["serve", str(served_bundle), "--port", port, "--provider", "tensorrt"])
    assert_user_error(result.exit_code, result.stderr, "--provider tensorrt cannot serve", "portable graph")


def test_options_map_one_to_one_onto_the_config(served_bundle, monkeypatch):
    seen = {}
    monkeypatch.setattr("prefixdeploy.serving.http.server.serve", lambda config: seen.setdefault("config", config))
    monkeypatch.setenv("PREFIXDEPLOY_API_KEY", "from-env")
    result = CliRunner().invoke(
        main,
        [
            "serve",
            str(served_bundle),
            "--port",
            "0",
            "--max-num-seqs",
            "3",
            "--max-tokens-limit",
            "9",
            "--shutdown-timeout",
            "2.5",
            "--max-prefill-tokens",
            "5",
            "--prompt-lookup",
            "8",
            "--no-ui",
        ],
    )
    assert result.exit_code == 0, result.output
    config: ServeConfig = seen["config"]
    assert (config.host, config.port, config.max_num_seqs, config.max_tokens_limit) == ("127.0.0.1", 0, 3, 9)
    assert (config.api_keys, config.shutdown_timeout, config.max_body_bytes) == (("from-env",), 2.5, 2 * 1024 * 1024)
    assert (config.max_prefill_tokens, config.prompt_lookup, config.ui) == (5, 8, False)
