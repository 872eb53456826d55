"""Prefix sources: turn PEFT adapters, Li & Liang checkpoints, P-Tuning v2 weights or prefix files into a Prefix.

Every reparameterization MLP is folded away here (evaluated once, in numpy), so the rest of the toolchain only
ever sees plain per-layer keys and values.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers import li_liang, peft, ptuning_v2
from prefixdeploy.importers.tuned_on import check_tuned_on, from_facts
from prefixdeploy.importers.weights import find_weights, tensor_names
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, check_prefix_name, is_prefix_file, load_prefix

log = logging.getLogger(__name__)

READERS = {"peft": peft, "li_liang": li_liang, "ptuning_v2": ptuning_v2}  # each has matches, load and tuned_on
SOURCE_KINDS = (
    "a prefix .safetensors, a PEFT prefix-tuning adapter directory, a Li & Liang checkpoint, or P-Tuning v2 weights"
)


def parse_prefix_arg(arg: str) -> tuple[str, Path]:
    """`[NAME=]SRC` -> (name, path); NAME defaults to the directory name or the file stem.

    An `=` inside a path (`runs/lr=0.1/adapter`) is not a NAME: names cannot contain `/`.
    """
    name, sep, src = arg.partition("=")
    if not sep or "/" in name:
        name, src = "", arg
    path = Path(src)
    default = path.name if path.is_dir() else path.stem
    return check_prefix_name(name or default or path.resolve().name), path


def check_source(path: Path) -> None:
    """Cheap checks before the model is loaded: the source exists and is of a kind we read."""
    if not path.exists():
        raise PrefixSourceError(f"prefix source {path} does not exist")
    if detect_kind(path) is None:
        raise PrefixSourceError(f"cannot read {path} as a prefix: {_what_is_there(path)}expected {SOURCE_KINDS}")


def _what_is_there(path: Path) -> str:
    """Why a path with weights was not recognized: the file is damaged, or it holds no prefix tensors."""
    weights = find_weights(path)
    if weights is None or not weights.name.endswith((".bin", ".pt", ".pth", ".safetensors", ".index.json")):
        return ""
    if not tensor_names(weights):
        return f"{weights} is not a readable weights file (corrupt or truncated?); "
    return f"{weights} holds no prefix tensors (prompt_embeddings, control_trans, prefix_encoder.*); "


def detect_kind(path: Path) -> str | None:
    """The kind of source at `path` (a key of READERS, or "prefix"), or None; reads headers, never whole weights."""
    if path.is_file() and path.suffix == ".safetensors" and is_prefix_file(path):
        return "prefix"
    for kind, reader in READERS.items():
        if reader.matches(path):
            return kind
    if path.is_file() and path.suffix == ".safetensors":
        return "prefix"  # let load_prefix say what is wrong with it (corrupt, not a prefix)
    return None


def load_prefix_source(
    path: Path, facts: ModelFacts, name: str, *, model_source: str | None = None, allow_other_model: bool = False
) -> Prefix:
    """Read any supported source as a Prefix for the model `facts` describe.

    Raises PrefixMismatchError if the prefix does not fit the model's KV shape, or if its source names another model
    (model_type, architectures, base_model_name_or_path; `model_source` is what the user named the model, to compare
    with a base the source names); `allow_other_model` logs the second instead of refusing.
    """
    check_source(path)
    kind = detect_kind(path)
    log.info("reading prefix %r from %s (%s)", name, path, kind)
    prefix = load_prefix(path, name=name) if kind == "prefix" else READERS[kind].load(path, facts, name)
    prefix.check_fits(facts, f"model {facts.architecture!r}")
    tuned_on = from_facts(prefix.model, path) if kind == "prefix" else READERS[kind].tuned_on(path)
    check_tuned_on(tuned_on, facts, name, model_source, allow_other_model)
    source = prefix.source or f"{kind}: {path.name}"  # a prefix file may say where it came from
    return replace(prefix, model=facts, source=source)
