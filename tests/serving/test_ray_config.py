"""`prefixdeploy serve --ray` options and `serve run ... key=value` arguments into RayServeConfig, and their one-line
errors; no Ray is started here (tests/serving/test_ray.py runs the application on a real local Ray)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from click.testing import CliRunner
from server_process import ROOT
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.serving.http.config import MAX_PROMPTS
from prefixdeploy.serving.scale.ray_config import RayServeConfig, from_args

RAY_RUN = "prefixdeploy.serving.scale.ray.run_until_signal"


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


def test_serve_run_arguments_are_strings_or_yaml_values(served_bundle, tmp_path):
    config = from_args({"bundle": str(served_bundle), "replicas": "2", "max-ongoing-requests": 3, "precision": "none"})
    assert (config.replicas, config.max_ongoing_requests, config.serve.precision) == (2, 3, None)
    assert config.deployment_options()["num_replicas"] == 2
    with pytest.raises(PrefixDeployError, match="unknown argument.*bogus.*known: .*max_prefixes_per_replica"):
        from_args({"bundle": str(served_bundle), "bogus": "1"})
    with pytest.raises(PrefixDeployError, match="replicas='two' is not a valid int"):
        from_args({"bundle": str(served_bundle), "replicas": "two"})
    with pytest.raises(PrefixDeployError, match="bundle=PATH"):
        from_args({"replicas": "2"})
    assert [from_args({"bundle": str(served_bundle), "ui": v}).serve.ui for v in ("false", "0", False, "true")] == [
        False,
        False,
        False,
        True,
    ]
    with pytest.raises(PrefixDeployError, match="ui='maybe' is not a valid bool"):
        from_args({"bundle": str(served_bundle), "ui": "maybe"})


def test_a_baked_bundle_takes_no_prefix_store(tiny_bundle, tmp_path):
    from prefixdeploy.serving.scale.ray import app_builder

    with pytest.raises(PrefixDeployError, match="switchable"):
        app_builder({"bundle": str(tiny_bundle("baked")), "prefix_store": str(tmp_path)})


def test_without_ray_serve_ray_names_the_extra(served_bundle):
    run = f"main(['serve', {str(served_bundle)!r}, '--ray'])"
    code = f"import sys\nsys.modules['ray'] = None\nfrom prefixdeploy.cli import main\n{run}"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert_user_error(done.returncode, done.stderr, "pip install 'prefixdeploy[ray]'")
