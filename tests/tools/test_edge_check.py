"""`make edge-check`'s parts that run without the arm64 root: the runtime-only case runner, the comparison and its
margin-aware gate, the kernel-move measurement, and root.sh's refusal without root.

The runner runs here on a real tiny bundle (x86); the comparison gets that result and a copy with a flipped token,
so the report's numbers (tokens equal, first differing step, margins) are checked on real logits.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "edge"
sys.path.insert(0, str(TOOLS))

import check  # noqa: E402
import kernel_moves  # noqa: E402
from compare import KERNEL_MOVES, build_report, check_arm_platform, compare_runs, format_flips, format_table  # noqa: E402

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


# -- the margin-aware gate -------------------------------------------------------------------------------------------

ARM_PLATFORM = {"machine": "aarch64", "onnxruntime_native": "aarch64", "onnxruntime_wheel": ["cp311-cp311-x_aarch64"]}


def relabeled(plan: dict, label: str) -> dict:
    """The plan with every graph labelled `label`: the same real results, judged at another precision."""
    return {**plan, "graphs": [{**g, "label": label} for g in plan["graphs"]]}


def flip(result: dict, step: int, margin_x86: float, margin_arm: float, arm_in_x86_top: bool = True):
    """(x86, arm64) copies of `result` whose first case flips at `step`: x86 keeps its token a, arm64 takes b, each
    side ahead by its margin there (b leaves x86's top logits when not arm_in_x86_top)."""
    x86, arm = copy.deepcopy(result), copy.deepcopy(result)
    xc, ac = x86["results"][0], arm["results"][0]
    a, b = xc["tokens"][step], (xc["tokens"][step] + 1) % 256
    rest = [[i, v] for i, v in xc["top"][step] if i not in (a, b)][:3]
    x86_b = [[b, 1.0 - margin_x86]] if arm_in_x86_top else [[(b + 1) % 256, -9.0]]
    xc["top"][step] = [[a, 1.0], *x86_b, *rest]
    ac["top"][step] = [[b, 1.0], [a, 1.0 - margin_arm], *rest]
    ac["tokens"][step] = b
    return x86, arm


def test_a_near_tie_within_the_int4_bound_is_reported_but_does_not_fail(plan_and_result):
    plan, result = plan_and_result
    x86, arm = flip(result, 2, 0.00068, 0.021)  # the case: x86's top two 0.00068 apart, arm64's 0.021
    row = compare_runs(relabeled(plan, "int4"), x86, arm)[0]
    assert row.swing == pytest.approx(0.02168) and row.bound == KERNEL_MOVES["int4"]
    assert row.near_tie and not row.diverged and row.verdict == "near-tie"
    (line,) = format_flips([row])
    assert line.startswith("near-tie: ") and "step 2" in line and "x86 0.00068 / arm64 0.021" in line
    assert "| 0.0217 / 0.8 |" in format_table([row]) and "| near-tie |" in format_table([row])


def test_fp32_is_exact_a_near_tie_flip_fails(plan_and_result):
    plan, result = plan_and_result
    row = compare_runs(plan, *flip(result, 2, 0.00068, 0.021))[0]  # the tiny bundle's graphs are fp32
    assert row.diverged and not row.near_tie and row.verdict == "DIVERGED"


def test_one_small_margin_is_not_enough_the_swing_counts(plan_and_result):
    plan, result = plan_and_result
    row = compare_runs(relabeled(plan, "int4"), *flip(result, 3, 0.001, 2.0))[0]
    assert row.swing == pytest.approx(2.001) and row.diverged  # arm64 moved the pair by 2: beyond any int4 kernel


def test_a_flip_to_a_token_outside_the_top_logits_is_a_divergence(plan_and_result):
    plan, result = plan_and_result
    row = compare_runs(relabeled(plan, "int4"), *flip(result, 1, 0.0, 0.01, arm_in_x86_top=False))[0]
    assert row.margin_x86 is None and row.swing is None and row.diverged


def test_an_unknown_precision_has_no_bound_and_is_an_error(plan_and_result):
    plan, result = plan_and_result
    with pytest.raises(ValueError, match="no kernel bound for precision 'int3'"):
        compare_runs(relabeled(plan, "int3"), result, result)


def test_the_report_fails_on_a_divergence_only_and_lists_every_flip(plan_and_result, tmp_path):
    plan, result = plan_and_result
    near = compare_runs(relabeled(plan, "int8"), *flip(result, 2, 0.01, 0.02))
    wide = compare_runs(relabeled(plan, "int8"), *flip(result, 2, 0.5, 0.5))
    platforms = {"x86": result["platform"], "arm64": ARM_PLATFORM}
    assert check.report(near, platforms, check.Phases(), tmp_path / "near") == 0
    assert check.report(wide, platforms, check.Phases(), tmp_path / "wide") == 1
    summary = json.loads((tmp_path / "wide" / "edge-check.json").read_text())
    assert summary["divergences"] == 1 and summary["near_ties"] == 0 and summary["kernel_moves"] == KERNEL_MOVES
    assert build_report(near, platforms, {})["near_ties"] == 1
    assert "DIVERGED: " in (tmp_path / "wide" / "edge-check.md").read_text()


# -- the kernel bounds' measurement ---------------------------------------------------------------------------------


def test_margin_move_is_the_change_of_the_reference_top_two_difference():
    ref = np.array([0.0, 3.0, 2.5, 1.0], np.float32)  # top two: tokens 1 and 2, 0.5 apart
    other = np.array([9.0, 3.1, 2.4, 1.0], np.float32)  # now 0.7 apart; token 0 is not part of ref's top two
    assert kernel_moves.margin_move(ref, other) == pytest.approx(0.2)


def test_fp32_kernels_move_nothing_between_one_and_several_rows(plan_and_result, tiny_bundle):
    plan, _ = plan_and_result
    graph = plan["graphs"][0]  # the fp32 ONNX Runtime graph
    moves = kernel_moves.measure_graph(tiny_bundle("switchable"), graph["file"], graph["cases"][:1], 4)
    assert moves["one_vs_several_rows"] < 1e-3 and moves["vs_fp32_graph"] is None


# -- root.sh ---------------------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"), reason="needs root to drop to another user")
def test_root_sh_without_root_says_so_and_installs_nothing():
    command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(TOOLS / "root.sh"), "build"]
    done = subprocess.run(command, capture_output=True, text=True, env={"PATH": os.environ["PATH"], "HOME": "/tmp"})
    assert done.returncode == 2 and "needs root" in done.stderr and "apt-get" not in done.stderr
