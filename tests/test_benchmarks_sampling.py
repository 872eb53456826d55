"""benchmarks/sampling_cost.py times every setting in this tree and marks what another tree lacks. Speed itself is
never asserted."""

from __future__ import annotations

import sys

from repo_root import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))


def test_every_setting_is_timed_at_every_scale(capsys):
    import sampling_cost as sc

    sc.main(["--rounds", "1", "--rows", "2", "--vocab", "512"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "µs/row" not in line]
    assert len(rows) == len(sc.SETTINGS) * len(sc.SCALES)
    assert all(cells.split("|")[-2].strip().isdigit() for cells in rows)
