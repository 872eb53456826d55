"""benchmarks/engine_ab.py serves one closed loop per engine config and round on a real engine. Speed itself is never
asserted."""

from __future__ import annotations

import sys

import pytest
from repo_root import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_it_serves_each_config_and_reports_ratios(tiny_bundle, capsys):
    import engine_ab

    configs = ["--config", "small:max_prefill_tokens=2", "--config", "whole:max_prefill_tokens=64"]
    argv = ["--prefix", "summ", "--clients", "3", "--requests", "5", "--prompt-length", "9", "--output-length", "4"]
    engine_ab.main([str(tiny_bundle("switchable")), *configs, *argv, "--rounds", "2"])
    out = capsys.readouterr().out
    assert sum(line.startswith("round ") for line in out.splitlines()) == 4
    assert "small: " in out and "whole: " in out and "÷ first per round 1.00, 1.00 (median 1.00)" in out


BAD_CONFIGS = ["no-field:max_batch=3", ":max_prefill_tokens=2", "x:max_prefill_tokens=many", "x:max_prefill_tokens=0"]


@pytest.mark.parametrize("bad", BAD_CONFIGS)
def test_a_bad_config_is_a_usage_error(bad):
    import engine_ab

    with pytest.raises(SystemExit):
        engine_ab.parse_args(["b", "--config", bad, "--config", "y:max_prefill_tokens=4"])
