"""Li & Liang prefix-tuning checkpoints (the `PrefixTuning` repository, GPT-2): fold `control_trans` into a Prefix.

Upstream saves its PrefixTuning module with save_pretrained: `wte.weight` (P, n_embd) and `control_trans`, an
`nn.Sequential(Linear, Tanh, Linear)` (two Tanh-separated hidden layers with `deep_param`) whose output on
wte(arange(P)) is the common flat layout (P, 2·L·n_embd). The shallow ablation (`init_shallow`) saves `control_trans`
as one parameter: the flat values (P·2L·n_embd,) after a random init, or GPT-2's stacked past (2L, 1, H, P, hd) when
initialised from real words. Some saves put the module under a key prefix (`model.`, `prefix_model.`): it is stripped.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers.weights import (
    WEIGHT_FILES,
    apply_mlp,
    check_geometry,
    checkpoint_config,
    find_weights,
    key_prefixes,
    mlp_layers,
    read_tensors,
    single_prefix,
    strip_prefix,
    tensor_names,
)
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, mismatch_error, prefix_from_flat

_ANCHOR = re.compile(r"^(|.*\.)control_trans(?:\.\d+\.(?:weight|bias))?$")
MARKERS = ("preseqlen", "mid_dim", "optim_prefix")  # what PrefixTuning adds to the GPT-2 config.json


def matches(path: Path) -> bool:
    """True if `path` is (or is a directory holding) weights with a Li & Liang `control_trans`."""
    weights = find_weights(path)
    return weights is not None and bool(_prefixes(tensor_names(weights)))


def _prefixes(names: list[str]) -> list[str]:
    """Key prefixes of a usable `control_trans`: the MLP form needs `wte.weight` beside it, the shallow form not."""
    present = set(names)
    return [p for p in key_prefixes(names, _ANCHOR) if {f"{p}control_trans", f"{p}wte.weight"} & present]


def load(path: Path, facts: ModelFacts, name: str) -> Prefix:
    """Evaluate a Li & Liang checkpoint's prefix once (MLP folded away); split it into the layers of `facts`."""
    weights = find_weights(path)
    if weights is None:
        raise PrefixSourceError(f"{path} holds no weights: expected {' or '.join(WEIGHT_FILES[:2])}")
    names = tensor_names(weights)
    prefix = single_prefix(_prefixes(names), weights, "Li & Liang prefix weights (wte.weight and control_trans)")
    wanted = {f"{prefix}{k}" for k in ("wte.weight", "wte2.weight", "control_trans")}
    wanted |= {n for n in names if n.startswith(f"{prefix}control_trans.")}
    tensors = strip_prefix(read_tensors(weights, wanted), prefix)
    config, config_path = checkpoint_config(path, MARKERS)
    if "wte2.weight" in tensors or config.get("use_infix"):
        raise PrefixSourceError(
            f"{path} is an infix-tuning checkpoint (use_infix): its prefix depends on the input, so it cannot be "
            "deployed as fixed keys and values. Re-train with prefix tuning"
        )
    check_geometry(config, facts, name, config_path)
    if "control_trans" in tensors:
        flat = _shallow_flat(tensors["control_trans"], _preseqlen(config), facts, name, weights)
    elif "wte.weight" in tensors:
        # No check against config's `preseqlen`: the low-data setting re-sizes wte without updating it.
        flat = apply_mlp(tensors["wte.weight"], mlp_layers(tensors, "control_trans", weights), weights)
    else:
        raise PrefixSourceError(f"{weights}: found control_trans layers but no wte.weight to feed them")
    return prefix_from_flat(flat, facts, name)  # (P, 2·L·H_kv·D); raises PrefixMismatchError for another width


def _preseqlen(config: dict) -> int | None:
    P = config.get("preseqlen")
    return P if isinstance(P, int) and P > 0 else None


def _shallow_flat(values: np.ndarray, P: int | None, facts: ModelFacts, name: str, where: Path) -> np.ndarray:
    """The `init_shallow` parameter as the flat (P, 2·L·H_kv·D); P (config's `preseqlen`) may be unknown."""
    if values.ndim == 5:  # (2L, 1, H, P, hd): torch.cat of GPT-2's per-layer past (2, B, H, P, hd) for one input
        n2l, batch, H, P, hd = values.shape
        if batch != 1:
            raise PrefixSourceError(f"{where}: control_trans has shape {values.shape}; expected (2L, 1, H, P, hd)")
        return values[:, 0].transpose(2, 0, 1, 3).reshape(P, n2l * H * hd)
    values = values.reshape(-1)  # upstream views it as (P, 2L, H, hd)
    width = 2 * facts.num_layers * facts.num_key_value_heads * facts.head_dim
    if P is not None and values.size % P == 0:
        return values.reshape(P, -1)
    if values.size % width == 0:
        return values.reshape(-1, width)
    found = f"has {values.size} values in control_trans, not a whole number of virtual tokens"
    raise mismatch_error(name, found, facts, needs=f" (keys and values: 2 × that = {width} values per virtual token)")
