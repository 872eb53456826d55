"""The prefix file format: the flat layout, save/load round trips (written atomically), names, and the fit check."""

from __future__ import annotations

import numpy as np
import pytest

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.runtime.prefix import (
    ModelFacts,
    Prefix,
    load_prefix,
    prefix_from_flat,
    prefix_to_flat,
    save_prefix,
)

FACTS = ModelFacts(architecture="llama", num_layers=2, num_key_value_heads=2, head_dim=4, hidden_size=8)
OTHER = ModelFacts(architecture="llama", num_layers=2, num_key_value_heads=1, head_dim=4, hidden_size=8)


def flat(P: int = 3) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((P, 2 * 2 * 2 * 4)).astype(np.float32)  # (P, 2·L·H_kv·D)


def test_flat_layout_round_trips_and_splits_keys_from_values():
    prefix = prefix_from_flat(flat(), FACTS, "task")
    assert prefix.key.shape == (2, 2, 3, 4) and prefix.num_virtual_tokens == 3
    np.testing.assert_array_equal(prefix_to_flat(prefix), flat())
    np.testing.assert_array_equal(prefix.key[0, 0, 0], flat()[0, :4])  # [L0.K | L0.V | …], head-major
    np.testing.assert_array_equal(prefix.value[0, 0, 0], flat()[0, 8:12])


def test_save_and_load_round_trip_and_leave_no_temporary_file(tmp_path):
    prefix = prefix_from_flat(flat(), FACTS, "task")
    save_prefix(prefix, tmp_path / "task.safetensors")
    loaded = load_prefix(tmp_path / "task.safetensors", name="renamed")
    assert loaded.name == "renamed" and loaded.model == FACTS
    np.testing.assert_array_equal(loaded.value, prefix.value)
    assert [p.name for p in tmp_path.iterdir()] == ["task.safetensors"]


def test_a_prefix_for_another_geometry_names_both_shapes():
    prefix = prefix_from_flat(flat(), FACTS, "task")
    with pytest.raises(PrefixMismatchError, match="2 layers × 2 kv heads × 4; the model has 2 layers × 1 kv heads"):
        prefix.check_fits(OTHER)
    with pytest.raises(PrefixMismatchError, match="has 32 values per virtual token.*= 16 values"):
        prefix_from_flat(flat(), OTHER, "task")


def test_names_and_shapes_are_checked():
    with pytest.raises(PrefixSourceError, match="is not valid"):
        prefix_from_flat(flat(), FACTS, "../etc")
    with pytest.raises(PrefixSourceError, match="expected float32 arrays of shape"):
        Prefix(name="t", key=np.zeros((2, 2, 3, 4)), value=np.zeros((2, 2, 3, 4)), model=FACTS)
