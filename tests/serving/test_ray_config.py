"""`serve run ... key=value` arguments into RayServeConfig, and the application builder's refusals; no Ray is started
here (tests/serving/test_ray.py runs the application on a real local Ray; tests/cli/test_serve_cli.py the
`prefixdeploy serve --ray` options)."""

from __future__ import annotations

import pytest

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.serving.scale.ray_config import from_args


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
