"""Prefix sources: turn PEFT adapters, Li & Liang checkpoints, P-Tuning v2 weights or prefix files into a Prefix.

Every reparameterization MLP is folded away here (evaluated once, in numpy), so the rest of the toolchain only
ever sees plain per-layer keys and values.
"""

from __future__ import annotations

from pathlib import Path

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers import li_liang, peft, ptuning_v2
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, check_prefix_name, is_prefix_file, load_prefix

SOURCE_KINDS = (
    "a prefix .safetensors, a PEFT prefix-tuning adapter directory, a Li & Liang checkpoint, or P-Tuning v2 weights"
)


def parse_prefix_arg(arg: str) -> tuple[str, Path]:
    """`[NAME=]SRC` -> (name, path); NAME defaults to the file stem or directory name."""
    name, sep, src = arg.partition("=")
    if not sep:
        name, src = "", arg
    path = Path(src)
    return check_prefix_name(name or path.stem or path.resolve().name), path


def check_source(path: Path) -> None:
    """Cheap checks before the model is loaded: the source exists and is of a kind we read."""
    if not path.exists():
        raise PrefixSourceError(f"prefix source {path} does not exist")
    if detect_kind(path) is None:
        raise PrefixSourceError(f"cannot read {path} as a prefix: expected {SOURCE_KINDS}")


def detect_kind(path: Path) -> str | None:
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return "peft"
        for reader in (li_liang, ptuning_v2):
            if reader.matches(path):
                return reader.__name__.rsplit(".", 1)[-1]
        return None
    if path.suffix == ".safetensors" and is_prefix_file(path):
        return "prefix"
    for reader in (li_liang, ptuning_v2):
        if reader.matches(path):
            return reader.__name__.rsplit(".", 1)[-1]
    if path.suffix == ".safetensors":
        return "prefix"  # let load_prefix say what is wrong with it (corrupt, not a prefix)
    return None


def load_prefix_source(path: Path, model: ModelFacts, name: str) -> Prefix:
    """Read any supported source as a Prefix for `model`; raises PrefixMismatchError if its geometry differs."""
    check_source(path)
    kind = detect_kind(path)
    if kind == "prefix":
        prefix = load_prefix(path, name=name)
    elif kind == "peft":
        prefix = peft.load(path, model, name)
    elif kind == "li_liang":
        prefix = li_liang.load(path, model, name)
    else:
        prefix = ptuning_v2.load(path, model, name)
    prefix.check_fits(model, f"model {model.architecture!r}")
    return Prefix(name=prefix.name, key=prefix.key, value=prefix.value, model=model)
