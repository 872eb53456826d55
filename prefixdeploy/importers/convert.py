"""`prefixdeploy import-prefix`: any prefix source -> a prefix `.safetensors` for a given model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.importers import check_source, load_prefix_source, parse_prefix_arg
from prefixdeploy.runtime.prefix import Prefix, check_prefix_name, save_prefix


@dataclass(frozen=True)
class ImportConfig:
    source: Path
    model: str  # hub id, local directory or .gguf file: the model the prefix was tuned on
    output: Path
    name: str | None = None  # default: the source's file stem or directory name
    allow_other_model: bool = False  # import a prefix whose source names another model of the same KV shape

    def __post_init__(self):
        if self.name is not None:
            check_prefix_name(self.name)


def import_prefix_file(config: ImportConfig, loaded=None) -> Prefix:
    from prefixdeploy.models.load import load_model

    name, path = parse_prefix_arg(str(config.source))
    check_source(path)  # before the slow model load
    loaded = loaded or load_model(config.model)
    prefix = load_prefix_source(
        path, loaded.facts, config.name or name, model_source=loaded.source, allow_other_model=config.allow_other_model
    )
    save_prefix(prefix, Path(config.output))
    return prefix
