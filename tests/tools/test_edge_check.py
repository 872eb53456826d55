"""`make edge-check`'s parts that run without the arm64 root: the runtime-only case runner and the comparison.

The runner runs here on a real tiny bundle (x86); the comparison gets that result and a copy with a flipped token,
so the report's numbers (tokens equal, first differing step, margins) are checked on real logits.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "edge"
sys.path.insert(0, str(TOOLS))

import check  # noqa: E402
from compare import check_arm_platform, compare_runs, format_table  # noqa: E402

NEW_TOKENS = 6


@pytest.fixture(scope="module")
def plan_and_result(tiny_bundle, tmp_path_factory):
    """A plan over every graph of the tiny switchable bundle, and run_cases.py's result for it (a subprocess)."""
    bundle = tiny_bundle("switchable")
    work = bundle.parent
    plan = {"max_new_tokens": NEW_TOKENS, "graphs": check.plan_graphs(bundle, work, ["hello world, how are"])}
    out = tmp_path_factory.mktemp("edge")
    (out / "plan.json").write_text(json.dumps(plan))
    command = [sys.executable, str(TOOLS / "run_cases.py"), str(out / "plan.json"), str(work), str(out / "x86.json")]
    subprocess.run(command, check=True, capture_output=True, env=os.environ | {"PYTHONPATH": str(TOOLS.parents[1])})
    return plan, json.loads((out / "x86.json").read_text())


def test_the_plan_covers_every_graph_prefix_and_no_prefix(plan_and_result):
    plan, _ = plan_and_result
    labels = [g["label"] for g in plan["graphs"]]
    assert labels == ["fp32", "fp32 portable"]  # tiny_bundle exports the default precisions
    assert [c["prefix"] for c in plan["graphs"][0]["cases"]] == ["summ", "qa", None]


def test_the_runner_reports_the_platform_and_greedy_tokens_with_their_top_logits(plan_and_result):
    _, result = plan_and_result
    info = result["platform"]
    assert info["machine"] == "x86_64" and info["onnxruntime_native"] == "x86_64"
    assert any("x86_64" in tag for tag in info["onnxruntime_wheel"])
    assert check_arm_platform(info)  # x86 is not mistaken for arm64
    for case in result["results"]:
        assert len(case["tokens"]) == len(case["top"]) == NEW_TOKENS
        assert [top[0][0] for top in case["top"]] == case["tokens"]  # greedy: the token is the top logit


def test_equal_runs_compare_equal(plan_and_result):
    plan, result = plan_and_result
    rows = compare_runs(plan, result, result)
    assert all(r.same and r.equal == r.total == NEW_TOKENS and r.max_logit_delta == 0 for r in rows)
    assert "| 6/6 | – | – |" in format_table(rows)


def test_a_flipped_token_reports_its_step_and_both_margins(plan_and_result):
    plan, result = plan_and_result
    arm = copy.deepcopy(result)
    case = arm["results"][0]
    runner_up, runner_up_logit = case["top"][2][1]
    best = case["top"][2][0][1]
    case["top"][2][0][1], case["top"][2][1][1] = runner_up_logit, best  # arm64 prefers the runner-up at step 2
    case["top"][2] = [case["top"][2][1], case["top"][2][0]] + case["top"][2][2:]
    case["tokens"][2:] = [runner_up] + case["tokens"][3:]
    row = compare_runs(plan, result, arm)[0]
    assert not row.same and row.first_diff == 2 and row.equal == NEW_TOKENS - 1
    assert row.margin_x86 == pytest.approx(best - runner_up_logit)
    assert row.margin_arm == pytest.approx(best - runner_up_logit)
    assert row.max_logit_delta == pytest.approx(best - runner_up_logit)
    assert f"| {NEW_TOKENS - 1}/{NEW_TOKENS} | 2 |" in format_table([row])


def test_a_missing_case_is_an_error_not_a_pass(plan_and_result):
    plan, result = plan_and_result
    with pytest.raises(ValueError, match="no result on one side"):
        compare_runs(plan, result, {"results": result["results"][1:]})


def test_the_arm64_platform_check_names_what_is_wrong():
    arm = {"machine": "aarch64", "onnxruntime_native": "aarch64", "onnxruntime_wheel": ["cp311-cp311-x_aarch64"]}
    assert check_arm_platform(arm) == []
    problems = check_arm_platform(arm | {"onnxruntime_native": "x86_64"})
    assert problems == ["onnxruntime's native library is 'x86_64', not aarch64"]
