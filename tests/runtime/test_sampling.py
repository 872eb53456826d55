"""Choosing the next token: greedy is argmax; top-k, top-p and min-p never pick outside their set; a seed repeats a
draw."""

from __future__ import annotations

import numpy as np

from prefixdeploy.runtime.sampling import sample_next

LOGITS = np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]], np.float32))  # (B=2, V=4)


def draws(n: int = 400, seed: int = 0, **options) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.stack([sample_next(LOGITS, rng, **options) for _ in range(n)])  # (n, B)


def test_temperature_zero_is_argmax():
    assert sample_next(LOGITS, np.random.default_rng(0)).tolist() == [0, 3]


def test_top_k_one_is_greedy_and_top_k_two_stays_in_the_two_best():
    assert (draws(temperature=1.0, top_k=1) == [0, 3]).all()
    two = draws(temperature=1.0, top_k=2)
    assert set(two[:, 0]) == {0, 1} and set(two[:, 1]) == {2, 3}


def test_top_p_keeps_the_smallest_set_that_reaches_the_mass():
    picked = draws(temperature=1.0, top_p=0.7)  # 0.5 + 0.3 reach 0.7; the first token alone does not
    assert set(picked[:, 0]) == {0, 1} and set(picked[:, 1]) == {2, 3}
    assert (draws(temperature=1.0, top_p=0.4) == [0, 3]).all()  # the first token always stays


def test_min_p_keeps_the_tokens_at_least_that_share_of_the_most_likely_one():
    assert set(draws(temperature=1.0, min_p=0.5)[:, 0]) == {0, 1}  # 0.3 ≥ 0.5 · 0.5; 0.15 is not
    assert set(draws(temperature=1.0, min_p=0.2)[:, 0]) == {0, 1, 2}
    assert (draws(temperature=1.0, min_p=1.0) == [0, 3]).all()
    # after top-p (Hugging Face's order): top-p 0.7 keeps {0, 1}, then min-p 0.2 keeps both
    assert set(draws(temperature=1.0, top_p=0.7, min_p=0.2)[:, 0]) == {0, 1}


def test_a_seed_repeats_the_draw_and_sampling_follows_the_probabilities():
    assert (draws(seed=7, temperature=1.0) == draws(seed=7, temperature=1.0)).all()
    share = (draws(n=4000, temperature=1.0)[:, 0] == 0).mean()
    assert abs(share - 0.5) < 0.04


def test_the_blocked_draw_picks_what_a_running_sum_over_the_whole_vocabulary_picks():
    """The draw walks block sums, then one block; over a vocabulary that is not a multiple of the block, with zero
    weights (a top-k's) and u at 0 and just below 1, it picks the index a plain running sum picks."""
    from prefixdeploy.runtime.sampling import DRAW_BLOCK, _inverse_cdf

    rng = np.random.default_rng(3)
    weights = rng.random(5 * DRAW_BLOCK + 77) ** 4
    weights[rng.random(len(weights)) < 0.3] = 0.0
    weights[-40:] = 0.0  # the last tokens cannot be drawn
    running = np.cumsum(weights)
    for u in [0.0, 1.0 - 2**-53, *rng.random(3000)]:
        expected = min(int((running < u * running[-1]).sum()), len(weights) - 1)
        assert _inverse_cdf(weights, u) == expected, u


def _nucleus_by_full_sort(probs: np.ndarray, top_p: float) -> np.ndarray:
    """The plain definition: sort the whole vocabulary (stable, most likely first) and drop what comes after top_p."""
    order = np.argsort(-probs, axis=-1, kind="stable")
    ranked = np.take_along_axis(probs, order, axis=-1)
    drop = np.zeros(probs.shape, bool)
    np.put_along_axis(drop, order, np.cumsum(ranked, axis=-1) - ranked >= top_p, axis=-1)
    return np.where(drop, 0.0, probs)


def test_top_p_sorting_only_the_likely_tokens_keeps_exactly_what_sorting_all_keeps():
    """Peaked, flat, tied and top-k-zeroed distributions over 49,152 tokens, top-p from 0.1 to 0.999: the nucleus
    found by sorting only the tokens above a floor is the full sort's, value for value."""
    from prefixdeploy.runtime.sampling import _nucleus

    rng = np.random.default_rng(5)
    V = 49152
    peaked = rng.standard_normal((2, V)) * 4
    flat = rng.standard_normal((2, V)) * 0.01
    tied = np.round(rng.standard_normal((2, V)), 1)  # many equal values: the order among ties is by id
    zeroed = rng.standard_normal((2, V)) * 2
    zeroed[:, 40:] = -np.inf  # a top-k of 40 leaves zeros behind
    for logits in (peaked, flat, tied, zeroed):
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = weights / weights.sum(axis=-1, keepdims=True)
        for top_p in (0.1, 0.5, 0.9, 0.95, 0.999):
            got = probs.copy()
            _nucleus(got, top_p)
            assert np.array_equal(got, _nucleus_by_full_sort(probs, top_p))


def test_top_p_with_min_p_keeps_what_top_p_then_min_p_over_the_full_sort_keep():
    """min_p bounds the tokens the nucleus has to sort (all but those below min_p times the most likely token are
    dropped afterwards); top-p's set, then min-p's cut, equal the plain definitions' value for value."""
    from prefixdeploy.runtime.sampling import _nucleus

    rng = np.random.default_rng(6)
    V = 49152
    rows = (
        rng.standard_normal((2, V)) * 4,
        rng.standard_normal((2, V)) * 0.01,
        np.round(rng.standard_normal((2, V)), 1),
    )
    for logits in rows:
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = weights / weights.sum(axis=-1, keepdims=True)
        for top_p in (0.1, 0.9, 0.999):
            for min_p in (0.001, 0.05, 0.5, 0.9):
                unlikely = weights < min_p
                got, want = probs.copy(), _nucleus_by_full_sort(probs, top_p)
                _nucleus(got, top_p, min_p)
                got[unlikely] = want[unlikely] = 0.0
                assert np.array_equal(got, want), (top_p, min_p)
