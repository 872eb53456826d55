"""Compare the greedy tokens of the x86 and arm64 runs case by case, and render the table and the JSON report.

A case is one (bundle, graph, prefix, prompt); each side's result holds its tokens and the top logits of every step
(see run_cases.py). Before the first differing step both sides saw the same tokens, so their logits are comparable
there; at that step each side's margin says how far it preferred its own token over the other side's.

The gate is margin-aware. At the first differing step x86 prefers its token a over arm64's token b by m_x86 and arm64
prefers b over a by m_arm, so the difference logit(a) − logit(b) moved by m_x86 + m_arm (the swing) between the
platforms. A flip is a near-tie, reported but not failing the check, when the swing is within what the precision's
kernels are known to move that difference (KERNEL_MOVES); otherwise it is a divergence and fails the check. Either
margin alone within the bound is not enough: m_x86 = 0.001 against m_arm = 2 is a move of 2. fp32 is exact: any flip
is a divergence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ARM_MACHINE = "aarch64"

# How far each precision's kernels move the difference between a step's two best logits: the gate's bound on the
# swing of a flip. Measured on x86 by tools/edge/kernel_moves.py (onnxruntime 1.32.0; the table is in
# docs/edge-check.md) over the tiny Llama bundles and the SmolLM2 sample bundle, 32 greedy steps per case:
# - int4, int8: the graph's one-row path (a decode step) against its several-row path (the same history in one
#   prefill). MatMulNBits runs one row on another kernel than several, with its int8 activations quantized and
#   summed in another order: the same kind of difference as between x86's and ARM's kernels. SmolLM2 moves the
#   most: int4 0.76, int8 0.60 (the tiny model: 0.02 and 0).
# - fp16: x86 runs the fp16 graph's MatMuls in fp32 after conversion, ARM natively in half precision, so the two
#   round intermediate values at different points, which one x86 run cannot show (its one-row and several-row paths
#   differ by 0.03 at most). The bound is the whole effect of half precision: the fp16 graph against the fp32 graph
#   on the same history, 0.13 on the tiny model (SmolLM2: 0.03).
# Each rounded up. fp32 is exact.
KERNEL_MOVES = {"fp32": 0.0, "fp16": 0.15, "int8": 0.65, "int4": 0.8}


def kernel_move(graph: str) -> float:
    """The bound for a graph label ("int4", "fp32 portable"); an unknown precision is an error, not a pass."""
    precision = graph.split()[0]
    if precision not in KERNEL_MOVES:
        raise ValueError(f"no kernel bound for precision {precision!r} (graph {graph!r}); known: {list(KERNEL_MOVES)}")
    return KERNEL_MOVES[precision]


@dataclass(frozen=True, kw_only=True)
class CaseComparison:
    bundle: str
    mode: str
    graph: str  # precision, and "portable" for the standard-ops graph
    prefix: str  # "(none)" for a switchable bundle run without prefix
    prompt: int  # index of the prompt among the case's prompts
    equal: int  # steps whose tokens are equal
    total: int  # steps generated
    first_diff: int | None  # first step whose tokens differ; None when all are equal
    max_logit_delta: float  # max |x86 − arm64| over the top logits both sides share, on the common history
    margin_x86: float | None  # at first_diff: x86's logit of its token minus its logit of arm64's token
    margin_arm: float | None  # at first_diff: arm64's logit of its token minus its logit of x86's token
    bound: float  # KERNEL_MOVES of the graph's precision

    @property
    def same(self) -> bool:
        return self.first_diff is None and self.equal == self.total

    @property
    def swing(self) -> float | None:
        """How far logit(x86's token) − logit(arm64's token) moved between the platforms at the first flip; None
        when there is no flip, or one side's other token fell outside its top logits (a wide margin)."""
        if self.margin_x86 is None or self.margin_arm is None:
            return None
        return self.margin_x86 + self.margin_arm

    @property
    def near_tie(self) -> bool:
        """A flip whose swing the precision's kernels can explain (never at fp32, whose bound is 0)."""
        return not self.same and self.swing is not None and self.swing <= self.bound and self.bound > 0

    @property
    def diverged(self) -> bool:
        """Whether this case fails the check: tokens differ, and not as a near-tie."""
        return not self.same and not self.near_tie

    @property
    def verdict(self) -> str:
        return "equal" if self.same else "near-tie" if self.near_tie else "DIVERGED"


def _first_diff(a: list[int], b: list[int]) -> int | None:
    for step, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return step
    return None if len(a) == len(b) else min(len(a), len(b))


def _margin(top: list[list[float]], mine: int, other: int) -> float | None:
    """logit(mine) − logit(other) from a step's top logits; None if `other` is not among them (a wide margin)."""
    logits = {int(i): v for i, v in top}
    return logits[mine] - logits[other] if other in logits else None


def _max_delta(top_a: list[list[list[float]]], top_b: list[list[list[float]]], steps: int) -> float:
    delta = 0.0
    for a, b in zip(top_a[:steps], top_b[:steps]):
        other = {int(i): v for i, v in b}
        delta = max([delta] + [abs(v - other[int(i)]) for i, v in a if int(i) in other])
    return delta


def compare_case(case: dict, x86: dict, arm: dict) -> CaseComparison:
    """One case: `case` from the plan, `x86` and `arm` its results on each side."""
    a, b = x86["tokens"], arm["tokens"]
    diff = _first_diff(a, b)
    shared = len(a) if diff is None else min(diff + 1, len(a), len(b))  # steps with the same history
    flipped = diff is not None and diff < min(len(a), len(b))
    return CaseComparison(
        bundle=case["bundle"],
        mode=case["mode"],
        graph=case["graph"],
        prefix=case["prefix"] or "(none)",
        prompt=case["prompt_index"],
        equal=sum(x == y for x, y in zip(a, b)),
        total=max(len(a), len(b)),
        first_diff=diff,
        max_logit_delta=_max_delta(x86["top"], arm["top"], shared),
        margin_x86=_margin(x86["top"][diff], a[diff], b[diff]) if flipped else None,
        margin_arm=_margin(arm["top"][diff], b[diff], a[diff]) if flipped else None,
        bound=kernel_move(case["graph"]),
    )


def plan_cases(plan: dict) -> list[dict]:
    """The plan's cases, flattened, each with its graph's bundle, mode and label."""
    return [
        {**case, "bundle": graph["bundle"], "mode": graph["mode"], "graph": graph["label"]}
        for graph in plan["graphs"]
        for case in graph["cases"]
    ]


def compare_runs(plan: dict, x86_report: dict, arm_report: dict) -> list[CaseComparison]:
    x86 = {r["id"]: r for r in x86_report["results"]}
    arm = {r["id"]: r for r in arm_report["results"]}
    cases = plan_cases(plan)
    missing = [c["id"] for c in cases if c["id"] not in x86 or c["id"] not in arm]
    if missing:
        raise ValueError(f"no result on one side for cases {missing}")
    return [compare_case(c, x86[c["id"]], arm[c["id"]]) for c in cases]


def check_arm_platform(info: dict) -> list[str]:
    """Problems that would mean the "arm64" side did not run aarch64 code; empty when it did."""
    problems = []
    if info.get("machine") != ARM_MACHINE:
        problems.append(f"platform.machine() is {info.get('machine')!r}, expected {ARM_MACHINE!r}")
    if info.get("onnxruntime_native") != ARM_MACHINE:
        problems.append(f"onnxruntime's native library is {info.get('onnxruntime_native')!r}, not {ARM_MACHINE}")
    if not any(tag.endswith(ARM_MACHINE) for tag in info.get("onnxruntime_wheel", [])):
        problems.append(f"onnxruntime's wheel tags {info.get('onnxruntime_wheel')} name no {ARM_MACHINE} platform")
    return problems


def _fmt(value: float | None, spec: str = ".3g") -> str:
    return "–" if value is None else format(value, spec)


def format_table(rows: list[CaseComparison]) -> str:
    """A Markdown table, one line per case."""
    head = (
        "| bundle | mode | graph | prefix | prompt | tokens equal | first diff | margin x86 / arm64 | swing / bound "
        "| max Δ logit | verdict |"
    )
    lines = [head, "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        margins = "–" if r.first_diff is None else f"{_fmt(r.margin_x86)} / {_fmt(r.margin_arm)}"
        swing = "–" if r.same else f"{_fmt(r.swing)} / {r.bound:g}"
        first = "–" if r.first_diff is None else str(r.first_diff)
        lines.append(
            f"| {r.bundle} | {r.mode} | {r.graph} | {r.prefix} | {r.prompt} | {r.equal}/{r.total} | {first} "
            f"| {margins} | {swing} | {r.max_logit_delta:.2g} | {r.verdict} |"
        )
    return "\n".join(lines)


def format_flips(rows: list[CaseComparison]) -> list[str]:
    """One line per case whose tokens differ: where, both margins, the swing against the bound, the verdict."""
    return [
        f"{r.verdict}: {r.bundle} {r.graph} prefix {r.prefix} prompt {r.prompt}: step {r.first_diff}, margins "
        f"x86 {_fmt(r.margin_x86)} / arm64 {_fmt(r.margin_arm)}, swing {_fmt(r.swing)} vs bound {r.bound:g}"
        for r in rows
        if not r.same
    ]


def build_report(rows: list[CaseComparison], platforms: dict, timings: dict) -> dict:
    return {
        "all_equal": all(r.same for r in rows),
        "divergences": sum(r.diverged for r in rows),
        "near_ties": sum(r.near_tie for r in rows),
        "kernel_moves": KERNEL_MOVES,
        "cases": [
            asdict(r) | {"same": r.same, "swing": r.swing, "near_tie": r.near_tie, "diverged": r.diverged} for r in rows
        ],
        "platforms": platforms,
        "seconds": timings,
    }
