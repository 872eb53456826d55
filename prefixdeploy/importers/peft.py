"""PEFT prefix-tuning adapters: `adapter_config.json` + `adapter_model.safetensors` (or the older `.bin`).

PEFT saves `prompt_embeddings` (P, 2·L·D) in the common flat layout; with `prefix_projection` it saves the MLP's
output, so there is nothing to fold. Other PEFT types are not prefixes and are refused by name.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, load_safetensors, prefix_from_flat

WEIGHTS_KEY = "prompt_embeddings"


def read_config(path: Path) -> dict:
    try:
        config = json.loads((path / "adapter_config.json").read_text())
    except ValueError as e:
        raise PrefixSourceError(f"{path}/adapter_config.json is not valid JSON ({e})") from None
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "PREFIX_TUNING":
        raise PrefixSourceError(
            f"{path} is a PEFT {peft_type or 'unknown-type'} adapter, not prefix tuning (PREFIX_TUNING); "
            "only prefix-tuning adapters can be deployed as prefixes"
        )
    if config.get("num_transformer_submodules", 1) != 1:
        raise PrefixSourceError(f"{path} is an encoder-decoder prefix (num_transformer_submodules=2); only decoders")
    return config


def read_weights(path: Path) -> np.ndarray:
    """`prompt_embeddings` as float32 (P, 2·L·D), from safetensors, or from a `.bin` loaded without pickle code."""
    st, binary = path / "adapter_model.safetensors", path / "adapter_model.bin"
    if st.is_file():
        tensors = load_safetensors(st)
    elif binary.is_file():
        tensors = _load_bin(binary)
    else:
        raise PrefixSourceError(f"{path} has adapter_config.json but no adapter_model.safetensors or .bin")
    if WEIGHTS_KEY not in tensors:
        raise PrefixSourceError(f"{path}: no {WEIGHTS_KEY!r} tensor in the adapter weights (found {sorted(tensors)})")
    return np.asarray(tensors[WEIGHTS_KEY], dtype=np.float32)


def _load_bin(path: Path) -> dict[str, np.ndarray]:
    import pickle

    import torch

    try:  # weights_only: tensors and plain containers only; no pickled code runs
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise PrefixSourceError(f"{path} cannot be loaded safely as weights: {str(e).splitlines()[0]}") from None
    return {k: v.detach().float().numpy() for k, v in state.items() if hasattr(v, "detach")}


def load(path: Path, model: ModelFacts, name: str) -> Prefix:
    config = read_config(path)
    flat = read_weights(path)
    L, H = config.get("num_layers"), config.get("num_attention_heads")
    token_dim = config.get("token_dim")
    if L and H and token_dim:
        theirs = (L, H, token_dim // H)
        ours = (model.num_layers, model.num_key_value_heads, model.head_dim)
        if theirs != ours:
            raise PrefixMismatchError(
                f"prefix {name!r} has {L} layers × {H} kv heads × {token_dim // H}; model has {model.geometry()}. "
                "Re-train or import the prefix for this model."
            )
    want_p = config.get("num_virtual_tokens")
    if want_p and flat.shape[0] != want_p:
        raise PrefixSourceError(f"{path}: {WEIGHTS_KEY} has {flat.shape[0]} rows, num_virtual_tokens is {want_p}")
    return prefix_from_flat(flat, model, name)
