"""Prompt-lookup decoding equals plain greedy decoding: tokens exactly, logits within 1e-4, on every family and mode.

Tiny random models do not copy from their input, so besides repetitive prompts (natural drafts, mostly rejected) the
draft source is replaced by an oracle that proposes plain decoding's own continuation, whole or with a wrong token
at a chosen place: that drives long accepted drafts, partial acceptance, drafts cut before an EOS and drafts that reach
max_new_tokens through the real graphs and caches. Only the drafter is replaced; verifying is the code under test.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from click.testing import CliRunner
from lookup_oracle import ban, oracle
from tiny_models import FAMILIES
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime import lookup
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig, generate_steps
from prefixdeploy.runtime.lookup import DraftPolicy, EarlierOutputs, LookupStats, before_eos, find_draft

ATOL = 1e-4
N_NEW = 24
K = 6
REPETITIVE = "the cat sat on the mat. the cat sat on the mat. the cat sat on the mat. the cat sat on"
GRAPHS = {"portable": "model.onnx", "ort": "model.ort.fp32.onnx"}


@pytest.fixture(scope="module", params=FAMILIES)
def bundles(request, tiny_model_dir, peft_adapter, tmp_path_factory):
    kind = request.param
    specs = (str(peft_adapter(kind, 5, seed=1, name="short")), str(peft_adapter(kind, 9, True, 2, "long")))
    out, model = tmp_path_factory.mktemp(f"lookup-{kind}"), str(tiny_model_dir(kind))
    return {
        "switchable": export_bundle(ExportConfig(model, specs, out / "switchable")),
        "baked": export_bundle(ExportConfig(model, specs[:1], out / "baked", mode="baked")),
        "bank": export_bundle(ExportConfig(model, specs, out / "bank", mode="baked")),
    }


def run(bundle, ids, prefix, config, stats=None):
    """(tokens, logits (N, V)) of one row through the bundle's graph."""
    rows = [bundle.resolve(prefix)]
    inplace = bundle.graph.kind == "ort"
    steps = list(generate_steps(bundle.backend, bundle.manifest, [ids], rows, config, inplace, stats))
    return [int(s.tokens[0]) for s in steps], np.stack([s.logits[0] for s in steps])


def assert_same(plain, looked):
    assert looked[0] == plain[0]
    np.testing.assert_allclose(looked[1], plain[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("graph", GRAPHS)
@pytest.mark.parametrize("mode", ["switchable", "baked", "bank"])
def test_lookup_equals_plain_greedy(bundles, mode, graph, monkeypatch):
    prefixes = {"switchable": ["short", None], "baked": [None], "bank": ["long"]}[mode]
    plain_config = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True)
    config = dataclasses.replace(plain_config, prompt_lookup=K)
    with load_bundle(bundles[mode], graph=GRAPHS[graph]) as bundle:
        for prefix in prefixes:
            ids = bundle.encode(REPETITIVE, prefix=prefix)
            plain = run(bundle, ids, prefix, plain_config)
            assert_same(plain, run(bundle, ids, prefix, config))  # natural drafts (if the output repeats the input)
            for wrong_at in (None, 5, 12):  # 5, 12: inside the 2nd and 3rd draft
                with monkeypatch.context() as patch:
                    oracle(patch, lookup, len(ids), plain[0], wrong_at)
                    stats = LookupStats()
                    assert_same(plain, run(bundle, ids, prefix, config, stats))
                assert stats.accepted >= (N_NEW - 2) // 2
                assert (stats.accepted == stats.drafted) == (wrong_at is None)


@pytest.mark.parametrize("graph", GRAPHS)
def test_drafts_stop_at_max_new_tokens_and_before_eos(tiny_bundle, graph, monkeypatch):
    with load_bundle(tiny_bundle("switchable"), graph=GRAPHS[graph]) as bundle:
        ids = bundle.encode(REPETITIVE)
        truth = run(bundle, ids, "qa", GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True))[0]
        oracle(monkeypatch, lookup, len(ids), truth)
        for n in range(1, N_NEW + 1):  # every length: some drafts are cut to fit, some end exactly at n
            config = GenerationConfig(max_new_tokens=n, ignore_eos=True, prompt_lookup=K)
            assert run(bundle, ids, "qa", config)[0] == truth[:n]
        eos_at = next(i for i in range(8, N_NEW) if truth[i] not in truth[:i])  # well inside a fully accepted draft
        bundle.manifest = dataclasses.replace(bundle.manifest, eos_token_ids=[truth[eos_at]])
        stats = LookupStats()
        got = run(bundle, ids, "qa", GenerationConfig(max_new_tokens=N_NEW, prompt_lookup=K), stats)[0]
    assert got == truth[: eos_at + 1] and stats.steps == 0  # every token came from a verify
    assert stats.drafted == stats.accepted == eos_at - stats.verifies  # each verify added the model's own token too:
    # the EOS was never drafted (a forward over it is wasted), the last verify's own token was it


@pytest.mark.parametrize("graph", GRAPHS)
def test_a_processor_is_honoured_by_the_verify(tiny_bundle, graph, monkeypatch):
    """Drafts of the unprocessed continuation, verified with a processor that bans one of its tokens: the output is
    the processed greedy output, token for token (acceptance is "the processed choice equals the draft")."""
    with load_bundle(tiny_bundle("switchable"), graph=GRAPHS[graph]) as bundle:
        ids = bundle.encode(REPETITIVE)
        free = run(bundle, ids, "qa", GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True))[0]
        banned = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True, logits_processors=(ban(free[6]),))
        want = run(bundle, ids, "qa", banned)[0]
        oracle(monkeypatch, lookup, len(ids), free)  # proposes the banned token at index 6
        stats = LookupStats()
        got = run(bundle, ids, "qa", dataclasses.replace(banned, prompt_lookup=K), stats)[0]
    assert free[6] not in want and want != free
    assert got == want and stats.accepted < stats.drafted  # the draft was cut where the processor disagreed


def test_batches_decode_plainly_and_sampling_refuses_lookup(tiny_bundle):
    with load_bundle(tiny_bundle("switchable")) as bundle:
        ids = [bundle.encode(REPETITIVE), bundle.encode("hello there")]
        plain = bundle.generate_ids(ids, ["qa", "summ"], GenerationConfig(max_new_tokens=12, ignore_eos=True))
        looked = bundle.generate_ids(ids, ["qa", "summ"], GenerationConfig(12, ignore_eos=True, prompt_lookup=4))
    assert looked == plain
    with pytest.raises(PrefixDeployError, match="with temperature 0"):
        GenerationConfig(temperature=0.7, prompt_lookup=4)
    for k in (-1, 65):
        with pytest.raises(PrefixDeployError, match="prompt_lookup must be between 0 "):
            GenerationConfig(prompt_lookup=k)


def test_cli_run_with_prompt_lookup(tiny_bundle):
    base = ["run", str(tiny_bundle("switchable")), "--prefix", "qa", "--max-new-tokens", "10", "--ignore-eos"]
    plain = CliRunner().invoke(main, [*base, "--json", REPETITIVE])
    looked = CliRunner().invoke(main, [*base, "--prompt-lookup", "5", "--json", REPETITIVE])
    assert plain.exit_code == 0 and looked.output == plain.output
    bad = CliRunner().invoke(main, [*base, "--prompt-lookup", "5", "--temperature", "0.5", REPETITIVE])
    assert_user_error(bad.exit_code, bad.stderr, "--temperature 0")


def test_find_draft_prefers_the_longest_most_recent_match():
    seq = np.array([1, 2, 3, 9, 1, 2, 3, 7, 8, 5, 2, 3, 4, 4, 1, 2, 3])
    assert find_draft(seq, 3).tolist() == [7, 8, 5]  # 3-gram 1 2 3: its most recent earlier occurrence
    assert find_draft(np.array([5, 6, 7, 6, 8, 6]), 4).tolist() == [8, 6]  # 1-gram 6, cut at the end
    assert find_draft(np.array([1, 2, 3]), 4).tolist() == []


def test_find_draft_searches_earlier_outputs_after_the_sequence_for_each_n_gram_size():
    seq = np.array([7, 1, 2, 3])
    earlier = [np.array([9, 2, 3, 5, 6]), np.array([1, 2, 3, 8, 8])]  # most recent first
    assert find_draft(seq, 2, earlier).tolist() == [8, 8]  # the 3-gram 1 2 3, found in the older output
    assert find_draft(seq, 2, earlier[:1]).tolist() == [5, 6]  # else the 2-gram 2 3
    assert find_draft(np.array([1, 2, 3, 4, 1, 2, 3]), 2, earlier).tolist() == [4, 1]  # seq first for each n
    assert find_draft(seq, 2, [np.array([3])]).tolist() == []  # no successor: nothing
    votes = [np.array([1, 2, 5, 6, 0]), np.array([1, 2, 5, 7, 0]), np.array([1, 2, 9, 9, 0])]
    assert find_draft(np.array([4, 1, 2]), 3, votes).tolist() == [5]  # 2 of 3 continue with 5, then they differ
    assert find_draft(np.array([4, 1, 2]), 3, votes[1:]).tolist() == []  # 1 of 2 is no majority
    history = EarlierOutputs(size=2)
    for tokens in ([1, 2], [3, 4], [5], [6, 7]):  # a one-token output offers nothing to follow: not kept
        history.add("qa", tokens)
    assert [a.tolist() for a in history.get("qa")] == [[6, 7], [3, 4]] and history.get(None) == []
    few_keys = EarlierOutputs(size=2, max_keys=2)
    for key in ("a", "b", "a", "c"):  # "b" is the least recently added to when "c" comes
        few_keys.add(key, [1, 2])
    assert [len(few_keys.get(k)) for k in "abc"] == [2, 0, 1]


@pytest.mark.parametrize("graph", GRAPHS)
def test_drafting_from_earlier_outputs_keeps_plain_greedy_tokens(tiny_bundle, graph):
    """An earlier output that is the answer itself is accepted nearly whole; an unrelated one changes nothing."""
    with load_bundle(tiny_bundle("switchable"), graph=GRAPHS[graph]) as bundle:
        ids = bundle.encode("hello there")
        plain = run(bundle, ids, "qa", GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True))
        config = GenerationConfig(max_new_tokens=N_NEW, ignore_eos=True, prompt_lookup=K)
        for earlier, accepted_at_least in (([np.array(plain[0])], N_NEW // 2), ([np.arange(3, 40)], 0)):
            stats = LookupStats()
            steps = generate_steps(
                bundle.backend, bundle.manifest, [ids], [bundle.resolve("qa")], config, graph == "ort", stats, earlier
            )
            tokens = [int(s.tokens[0]) for s in steps]
            assert tokens == plain[0] and stats.accepted >= accepted_at_least


def test_drafts_end_before_the_first_eos():
    assert before_eos(np.array([5, 6, 2, 7, 2]), {2}).tolist() == [5, 6]
    assert before_eos(np.array([2, 5]), {2, 9}).tolist() == [] and before_eos(np.array([5]), set()).tolist() == [5]


def test_policy_grows_on_acceptance_and_backs_off_after_misses():
    policy = DraftPolicy(limit=8)
    assert policy.next_size(10) == 2
    policy.record(2, 2)
    assert policy.next_size(10) == 4 and policy.next_size(3) == 3
    policy.record(4, 0)
    assert policy.next_size(10) == 0 and policy.next_size(10) == 2  # one plain step, then a halved draft
    policy.record(2, 0)
    assert [policy.next_size(10) for _ in range(3)] == [0, 0, 1]  # two plain steps after a second miss


def test_bench_prompt_lookup_scenario(tiny_bundle, tmp_path):
    from prefixdeploy.bench import BenchConfig, format_report, run_bench, to_json

    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps({"input": t}) + "\n" for t in (REPETITIVE, "hello there")))
    config = BenchConfig(
        tiny_bundle("switchable"), scenarios="prompt-lookup", inputs=inputs, output_length=8, warmup=0, repetitions=1
    )
    run = run_bench(config)
    result = to_json(run)["prompt_lookup"]
    assert result["mismatches"] == 0 and result["inputs"] == 2 and result["plain_decode_tokens_per_s"] > 0
    assert result["with_earlier_outputs"]["lookup_decode_tokens_per_s"] > 0
    assert "prompt lookup (K = 10, prefix summ, 2 inputs)" in format_report(run)
    with pytest.raises(PrefixDeployError, match="needs inputs FILE"):
        BenchConfig(tiny_bundle("switchable"), scenarios="prompt-lookup")
