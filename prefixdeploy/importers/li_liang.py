"""Li & Liang prefix-tuning checkpoints (the `PrefixTuning` repository, GPT-2): fold `control_trans` into a Prefix.

Upstream saves its PrefixTuning module with save_pretrained: `wte.weight` (P, n_embd) and `control_trans`, an
`nn.Sequential(Linear, Tanh, Linear)` (two Tanh-separated hidden layers with `deep_param`) whose output on
wte(arange(P)) is the common flat layout (P, 2·L·n_embd). The shallow ablation (`init_shallow`) saves `control_trans`
as one parameter: the flat values (P·2L·n_embd,) after a random init, or GPT-2's stacked past (2L, 1, H, P, hd) when
initialised from real words. Some saves put the module under a key prefix (`model.`, `prefix_model.`): it is stripped.

Three relatives are refused by what they are: `PrefixEmbTuning` (its MLP makes input embeddings (P, n_embd) that
upstream runs through GPT-2; there are no keys and values to import without the model), infix-tuning (`wte2`, a
prefix that depends on the input) and the BART `PrefixTuning` (encoder and cross-attention prefixes besides the
decoder's: `wte_enc`, `control_trans_enc`, `wte2`, `control_trans2`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers.tuned_on import TunedOn, from_config
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


def tuned_on(path: Path) -> TunedOn | None:
    """The base model the checkpoint's config.json describes (`model_type`, `architectures`), if it has one."""
    return from_config(*checkpoint_config(path, MARKERS))


def load(path: Path, facts: ModelFacts, name: str) -> Prefix:
    """Evaluate a Li & Liang checkpoint's prefix once (MLP folded away); split it into the layers of `facts`."""
    weights = find_weights(path)
    if weights is None:
        raise PrefixSourceError(f"{path} holds no weights: expected {' or '.join(WEIGHT_FILES[:2])}")
    names = tensor_names(weights)
    prefix = single_prefix(_prefixes(names), weights, "Li & Liang prefix weights (wte.weight and control_trans)")
    config, config_path = checkpoint_config(path, MARKERS)
    _refuse_input_dependent(path, [n[len(prefix) :] for n in names if n.startswith(prefix)], config)
    wanted = {f"{prefix}{k}" for k in ("wte.weight", "control_trans")}
    wanted |= {n for n in names if n.startswith(f"{prefix}control_trans.")}
    tensors = strip_prefix(read_tensors(weights, wanted), prefix)
    if "control_trans" in tensors:
        check_geometry(config, facts, name, config_path)
        flat = _shallow_flat(tensors["control_trans"], _preseqlen(config), facts, name, weights)
    elif "wte.weight" in tensors:
        layers = mlp_layers(tensors, "control_trans", weights)
        _refuse_prefix_emb(path, config, (len(tensors["wte.weight"]), len(layers[-1][0])), facts)
        check_geometry(config, facts, name, config_path)
        # No check against config's `preseqlen`: the low-data setting re-sizes wte without updating it.
        flat = apply_mlp(tensors["wte.weight"], layers, weights)
    else:
        raise PrefixSourceError(f"{weights}: found control_trans layers but no wte.weight to feed them")
    return prefix_from_flat(flat, facts, name)  # (P, 2·L·H_kv·D); raises PrefixMismatchError for another width


def _refuse_input_dependent(path: Path, names: list[str], config: dict) -> None:
    """The BART checkpoint (encoder and cross-attention prefixes) and infix-tuning cannot be fixed decoder keys."""
    parts = [
        p for p in ("wte_enc", "control_trans_enc", "wte2", "control_trans2") if any(_is_part(n, p) for n in names)
    ]
    if config.get("is_encoder_decoder") or {"wte_enc", "control_trans_enc", "control_trans2"} & set(parts):
        kind = str(config.get("model_type") or "bart").upper()
        raise PrefixSourceError(
            f"{path} is a Li & Liang encoder-decoder ({kind}) checkpoint: besides the decoder's prefix it holds "
            f"prefixes for the encoder and for cross-attention ({', '.join(parts) or 'per its config'}), and "
            "prefixdeploy deploys decoder-only models. Re-train with prefix tuning on a decoder"
        )
    if parts or config.get("use_infix"):
        raise PrefixSourceError(
            f"{path} is an infix-tuning checkpoint (use_infix, wte2): its prefix depends on the input, so it cannot "
            "be deployed as fixed keys and values. Re-train with prefix tuning"
        )


def _is_part(name: str, part: str) -> bool:
    return name == f"{part}.weight" or name.startswith(f"{part}.")


def _refuse_prefix_emb(path: Path, config: dict, out: tuple[int, int], facts: ModelFacts) -> None:
    """PrefixEmbTuning's MLP makes (P, n_embd) input embeddings, not the (P, 2·L·n_embd) keys and values."""
    named = "PrefixEmbTuning" in (config.get("architectures") or []) or "parametrize_emb" in config
    width = 2 * facts.num_layers * facts.num_key_value_heads * facts.head_dim
    if named or (out[1] != width and out[1] == config.get("n_embd", facts.hidden_size)):
        raise PrefixSourceError(
            f"{path} is a Li & Liang PrefixEmbTuning checkpoint: its control_trans makes input embeddings {out}, "
            "which upstream runs through GPT-2 to get the keys and values; it holds no keys and values to import. "
            "Re-train with PrefixTuning (prefix_mode activation)"
        )


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
    if P is not None and values.size == P * width:
        return values.reshape(P, width)
    if P is not None:
        fits = f"; they are {values.size // width} virtual tokens of this model" if values.size % width == 0 else ""
        raise PrefixSourceError(
            f"{where}: control_trans has {values.size} values, but the config's preseqlen={P} means {P} × {width} = "
            f"{P * width} (this model's keys and values per virtual token){fits}: the config does not belong to these "
            "weights"
        )
    if values.size % width == 0:
        return values.reshape(-1, width)
    found = f"has {values.size} values in control_trans, not a whole number of virtual tokens"
    raise mismatch_error(name, found, facts, needs=f" (keys and values: 2 × that = {width} values per virtual token)")
