"""PEFT prefix-tuning adapters: `adapter_config.json` + `adapter_model.safetensors` (or the older `.bin`).

PEFT saves `prompt_embeddings` (P, 2·L·D) in the common flat layout; with `prefix_projection` it saves the MLP's
output, so there is nothing to fold. Other PEFT types are not prefixes and are refused by name, and so are adapters
with other trained weights beside the prefix (`modules_to_save`, a task head): a bundle would run without them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers.tuned_on import TunedOn, from_base_name
from prefixdeploy.importers.weights import load_bin, read_config, read_tensors, tensor_names
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, geometry, mismatch_error, prefix_from_flat

WEIGHTS_KEY = "prompt_embeddings"


def matches(path: Path) -> bool:
    """True for a directory with an `adapter_config.json` (its type is checked when loading, to name it)."""
    return path.is_dir() and (path / "adapter_config.json").is_file()


def tuned_on(path: Path) -> TunedOn | None:
    """The base model the adapter names (`base_model_name_or_path`), if it names one."""
    base = read_config(path / "adapter_config.json").get("base_model_name_or_path")
    return from_base_name(base, path / "adapter_config.json") if isinstance(base, str) and base else None


def read_adapter_config(path: Path) -> dict:
    """The adapter's `adapter_config.json`, checked to be a decoder prefix-tuning adapter."""
    config = read_config(path / "adapter_config.json")
    peft_type = str(config.get("peft_type", "")).upper()
    if peft_type != "PREFIX_TUNING":
        raise PrefixSourceError(
            f"{path} is a PEFT {peft_type or 'unknown-type'} adapter, not prefix tuning (PREFIX_TUNING); "
            "only prefix-tuning adapters can be deployed as prefixes"
        )
    if config.get("num_transformer_submodules", 1) != 1:
        raise PrefixSourceError(f"{path} is an encoder-decoder prefix (num_transformer_submodules=2); only decoders")
    return config


def read_weights(path: Path, config: dict) -> np.ndarray:
    """`prompt_embeddings` as float32 (P, 2·L·D), from safetensors (bf16 too) or a `.bin` loaded without pickle code."""
    st, binary = path / "adapter_model.safetensors", path / "adapter_model.bin"
    if st.is_file():
        tensors, names = read_tensors(st, [WEIGHTS_KEY]), tensor_names(st)
    elif binary.is_file():
        tensors = load_bin(binary)
        names = list(tensors)
    else:
        raise PrefixSourceError(f"{path} has adapter_config.json but no adapter_model.safetensors or .bin")
    if WEIGHTS_KEY not in tensors:
        raise PrefixSourceError(f"{path}: no {WEIGHTS_KEY!r} tensor in the adapter weights (found {sorted(names)})")
    _refuse_other_weights(path, sorted(set(names) - {WEIGHTS_KEY}), config)
    return tensors[WEIGHTS_KEY]


def _refuse_other_weights(path: Path, others: list[str], config: dict) -> None:
    """PEFT's model uses every saved weight (a trained lm_head, a classifier); a bundle carries the prefix only."""
    if not others:
        return
    task = config.get("task_type")
    what = f" (a {task} adapter)" if task and task != "CAUSAL_LM" else ""
    modules = sorted(set(config.get("modules_to_save") or []))
    why = f" (modules_to_save: {', '.join(modules)})" if modules else ""
    raise PrefixSourceError(
        f"{path}{what} holds trained weights besides the prefix: {', '.join(others)}{why}. A bundle carries only the "
        "prefix and runs the base model without them, so its outputs would not be PEFT's. Re-train with the prefix "
        "alone (task_type CAUSAL_LM, no modules_to_save)"
    )


def load(path: Path, facts: ModelFacts, name: str) -> Prefix:
    """Read a PEFT prefix-tuning adapter directory as a Prefix for the model `facts` describe."""
    config = read_adapter_config(path)
    flat = read_weights(path, config)
    L, H = config.get("num_layers"), config.get("num_attention_heads")
    token_dim = config.get("token_dim")
    if L and H and token_dim and geometry(L, H, token_dim // H) != facts.geometry():
        raise mismatch_error(name, f"has {geometry(L, H, token_dim // H)}", facts, "model")
    want_p = config.get("num_virtual_tokens")
    if want_p and flat.shape[0] != want_p:
        raise PrefixSourceError(f"{path}: {WEIGHTS_KEY} has {flat.shape[0]} rows, num_virtual_tokens is {want_p}")
    return prefix_from_flat(flat, facts, name)
