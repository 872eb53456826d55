"""benchmarks/mixed_steps.py times both ways of a step on a bundle with a mixed-step graph. Speed itself is never
asserted."""

from __future__ import annotations

import sys

from repo_root import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_it_times_both_ways_of_a_step(tiny_bundle, capsys):
    import mixed_steps

    mixed_steps.main([str(tiny_bundle("switchable")), "--rows", "3", "--chunk", "5", "--past", "8", "--rounds", "2"])
    assert "3 rows + a 5-token chunk: apart" in capsys.readouterr().out
