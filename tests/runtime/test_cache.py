"""The cache directory: $PREFIXDEPLOY_CACHE, else ~/.cache/prefixdeploy."""

from __future__ import annotations

from prefixdeploy.runtime.cache import cache_dir


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFIXDEPLOY_CACHE", str(tmp_path))
    assert cache_dir("trt") == tmp_path / "trt"
