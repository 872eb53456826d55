"""`prefixdeploy serve` on the command line: options into ServeConfig (RayServeConfig with `--ray`), one-line errors
(exit 2), and installs without the extra (no fastapi, no ray) where `--help` works and `serve` names the extra to
install. No server or Ray is started here (tests/serving/ runs them)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from click.testing import CliRunner
from repo_root import ROOT
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.serving.http.config import MAX_PROMPTS, ServeConfig
from prefixdeploy.serving.scale.ray_config import RayServeConfig

ROOT_ARGS = dict(cwd=str(ROOT), capture_output=True, text=True)
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
        (["--max-prefill-prompts", "0"], "--max-prefill-prompts"),
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
        # found while loading, after the port is bound (hence --port 0): the error still names the flag
        (["--port", "0", "--batch-precision", "fp32"], "--batch-precision fp32 must name an ONNX Runtime graph other"),
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


# -- serve --ray: the options into RayServeConfig (tests/serving/test_ray.py runs the application on a real Ray) ----


def test_serve_ray_maps_options_onto_the_config(served_bundle, tmp_path, monkeypatch):
    seen = {}
    monkeypatch.setattr(
        "prefixdeploy.serving.scale.ray.run_until_signal", lambda c, a: seen.update(config=c, address=a)
    )
    args = ["serve", str(served_bundle), "--ray", "--min-replicas", "1", "--max-replicas", "3", "--port", "8123"]
    args += ["--prefix-store", str(tmp_path), "--max-prefixes-per-replica", "5", "--max-ongoing-requests", "2"]
    result = CliRunner().invoke(main, [*args, "--ray-address", "auto", "--max-num-seqs", "2"])
    assert result.exit_code == 0, result.output
    config: RayServeConfig = seen["config"]
    assert seen["address"] == "auto" and config.serve.port == 8123 and config.prefix_store == tmp_path
    assert (config.min_replicas, config.max_replicas, config.max_prefixes_per_replica) == (1, 3, 5)
    assert config.serve.max_queue == 2 * MAX_PROMPTS  # the engine never refuses what Ray admitted
    options = config.deployment_options()
    assert options["autoscaling_config"]["max_replicas"] == 3 and options["max_ongoing_requests"] == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--replicas", "2"], "--replicas need --ray"),
        (["--ray", "--replicas", "2", "--min-replicas", "1", "--max-replicas", "2"], "not both"),
        (["--ray", "--min-replicas", "1"], "both --min-replicas and --max-replicas"),
        (["--ray", "--min-replicas", "3", "--max-replicas", "2"], "below --min-replicas"),
        (["--ray", "--replicas", "0"], "--replicas must be at least 1"),
        (["--ray", "--prefix-store", "/nonexistent/dir"], "--prefix-store"),
        (["--ray", "--max-prefixes-per-replica", "0"], "--max-prefixes-per-replica"),
        (["--ray", "--allow-runtime-prefixes", "."], "--prefix-store DIR"),
    ],
)
def test_bad_ray_options_are_one_line_errors(served_bundle, args, needle, monkeypatch):
    monkeypatch.setattr(
        "prefixdeploy.serving.scale.ray.run_until_signal", lambda c, a: pytest.fail("must not start Ray")
    )
    result = CliRunner().invoke(main, ["serve", str(served_bundle), *args])
    assert_user_error(result.exit_code, result.stderr, needle)


def test_without_ray_serve_ray_names_the_extra(served_bundle):
    run = f"main(['serve', {str(served_bundle)!r}, '--ray'])"
    code = f"import sys\nsys.modules['ray'] = None\nfrom prefixdeploy.cli import main\n{run}"
    done = subprocess.run([sys.executable, "-c", code], **ROOT_ARGS)
    assert_user_error(done.returncode, done.stderr, "pip install 'prefixdeploy[ray]'")
