"""P-Tuning v2 (THUDM) prefixes inside a model save: fold `prefix_encoder` into a Prefix.

THUDM's PrefixEncoder is an `embedding` (P, 2·L·D), or with `prefix_projection` an `embedding` (P, hidden) followed
by `trans` = Linear → Tanh → Linear to (P, 2·L·D); the model views its output as (P, 2L, H, hd), the common flat
layout. The encoder may sit under any key prefix (`transformer.prefix_encoder.` in ChatGLM, whose encoder is sized by
kv groups). A ChatGLM p-tuning save holds only the encoder; from a full save only the encoder's tensors are read.
"""

from __future__ import annotations

import re
from pathlib import Path

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
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, prefix_from_flat

_ANCHOR = re.compile(r"^(|.*\.)prefix_encoder\.embedding\.weight$")
MARKERS = ("pre_seq_len", "prefix_projection", "prefix_hidden_size")  # what P-Tuning v2 adds to config.json


def matches(path: Path) -> bool:
    """True if `path` is (or is a directory holding) weights with a `prefix_encoder.embedding.weight`."""
    weights = find_weights(path)
    return weights is not None and bool(key_prefixes(tensor_names(weights), _ANCHOR))


def tuned_on(path: Path) -> TunedOn | None:
    """The base model the checkpoint's config.json describes (`model_type`, `architectures`), if it has one."""
    return from_config(*checkpoint_config(path, MARKERS))


def load(path: Path, facts: ModelFacts, name: str) -> Prefix:
    """Evaluate the prefix encoder once (MLP folded away) and split its output into the layers `facts` describe."""
    weights = find_weights(path)
    if weights is None:
        raise PrefixSourceError(f"{path} holds no weights: expected {' or '.join(WEIGHT_FILES[:2])}")
    names = tensor_names(weights)
    encoder = single_prefix(key_prefixes(names, _ANCHOR), weights, "prefix_encoder.embedding.weight")
    encoder += "prefix_encoder."
    tensors = strip_prefix(read_tensors(weights, [n for n in names if n.startswith(encoder)]), encoder)
    config, config_path = checkpoint_config(path, MARKERS)
    check_geometry(config, facts, name, config_path)
    if "embedding.weight" not in tensors:
        raise PrefixSourceError(f"{weights}: {encoder}embedding.weight is named in the file but is not a tensor")
    embedding = tensors["embedding.weight"]  # (P, hidden) with projection, else (P, 2·L·H_kv·D)
    P = config.get("pre_seq_len")
    if isinstance(P, int) and embedding.shape[0] != P:
        raise PrefixSourceError(
            f"{weights}: {encoder}embedding.weight has {embedding.shape[0]} rows but {config_path} says "
            f"pre_seq_len={P}; the config does not belong to these weights"
        )
    if any(k.startswith("trans.") for k in tensors):
        flat = apply_mlp(embedding, mlp_layers(tensors, "trans", weights), weights)
    elif config.get("prefix_projection"):
        raise PrefixSourceError(f"{config_path} sets prefix_projection but {weights} has no {encoder}trans weights")
    else:
        flat = embedding
    return prefix_from_flat(flat, facts, name)  # (P, 2·L·H_kv·D); raises PrefixMismatchError for another width
