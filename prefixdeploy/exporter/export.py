"""`prefixdeploy export`: model + prefixes -> a bundle directory, written atomically (temp dir, then rename)."""

from __future__ import annotations

import logging
from dataclasses import KW_ONLY, dataclass, replace
from pathlib import Path

import onnx

from prefixdeploy import __version__
from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.exporter.calibration_data import CALIBRATION_TEXT
from prefixdeploy.exporter.chat import chat_system_split
from prefixdeploy.exporter.decoder import build_decoder
from prefixdeploy.exporter.external_data import save_with_aligned_data
from prefixdeploy.exporter.genai import write_genai_config
from prefixdeploy.exporter.graph import MAX_OPSET, MIN_OPSET
from prefixdeploy.exporter.optimize import build_ort_graph, check_fusable
from prefixdeploy.importers import check_source, load_prefix_source, parse_prefix_arg
from prefixdeploy.models.load import LoadedModel, load_model
from prefixdeploy.runtime.atomic import atomic_dir
from prefixdeploy.runtime.bundle import TOKENIZER_FILE
from prefixdeploy.runtime.checks import add_reference_cases
from prefixdeploy.runtime.manifest import (
    MODES,
    GraphEntry,
    Manifest,
    PrefixEntry,
    sha256_file,
    write_manifest,
)
from prefixdeploy.runtime.prefix import Prefix, save_prefix
from prefixdeploy.vocabulary import INT4_RECIPES, INT8_RECIPES, PRECISIONS, RECIPES

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
CHAT_SENTINEL = "\x00PREFIXDEPLOY_MESSAGE\x00"


@dataclass(frozen=True)
class ExportConfig:
    model: str  # hub id, local directory or .gguf file
    prefixes: tuple[str, ...]  # "[NAME=]SRC" each
    output: Path
    _: KW_ONLY  # the options below are passed by name
    mode: str = "switchable"
    opset: int = MIN_OPSET
    force: bool = False  # replace a non-empty output directory
    precisions: tuple[str, ...] = ("fp32",)  # ONNX Runtime variants to add beside the portable graph; () for none
    allow_other_model: bool = False  # import prefixes whose sources name another model of the same KV shape
    int4_recipe: str = INT4_RECIPES[0]  # int4's lm_head and MLP down projections at 8 bits (mixed) or 4 (pure)
    int8_recipe: str = INT8_RECIPES[0]  # int8's kernels: weight-only blocks, or dynamic quantization (precision.py)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}", "mode")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ConfigError(f"opset must be in {MIN_OPSET}–{MAX_OPSET}, got {self.opset}", "opset")
        if self.mode == "baked" and not self.prefixes:
            raise ConfigError("mode baked needs prefixes to bake in: give at least one", "mode", "prefixes")
        unknown = [p for p in self.precisions if p not in PRECISIONS]
        if unknown:
            raise ConfigError(f"precisions: unknown {unknown[0]!r}; choose from {', '.join(PRECISIONS)}", "precisions")
        if len(set(self.precisions)) != len(self.precisions):
            raise ConfigError("precisions names a precision more than once; give each once", "precisions")
        for precision in RECIPES:
            self._check_recipe(precision)

    def _check_recipe(self, precision: str) -> None:
        field, recipe, choices = f"{precision}_recipe", self.recipe_of(precision), RECIPES[precision]
        if recipe not in choices:
            raise ConfigError(f"{field} must be one of {', '.join(choices)}, got {recipe!r}", field)
        if recipe != choices[0] and precision not in self.precisions:
            raise ConfigError(
                f"{field} {recipe} applies to {precision} graphs; precisions has none: add {precision} to precisions",
                field,
                "precisions",
            )

    def recipe_of(self, precision: str) -> str | None:
        """The recipe of this precision's graph (vocabulary.RECIPES); None for a precision without recipes."""
        return getattr(self, f"{precision}_recipe") if precision in RECIPES else None


def export_bundle(config: ExportConfig, loaded: LoadedModel | None = None) -> Path:
    """Write the bundle and return its path. Nothing is left at `config.output` if any step fails."""
    out = Path(config.output)
    _check_output(out, config.force)
    sources = [parse_prefix_arg(arg) for arg in config.prefixes]
    names = [name for name, _ in sources]
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise PrefixDeployError(f"prefix names must be unique; repeated: {', '.join(dupes)} (use NAME=SRC)")
    for _, path in sources:
        check_source(path)  # fail fast, before the (slow) model load

    loaded = loaded or load_model(config.model)
    if config.precisions:
        check_fusable(loaded.arch, loaded.rope())
    options = {"model_source": loaded.source, "allow_other_model": config.allow_other_model}
    prefixes = [load_prefix_source(path, loaded.facts, name, **options) for name, path in sources]
    log.info("building the %s graph (%d layers)", config.mode, loaded.dims.num_layers)
    graph = build_decoder(loaded.arch, loaded.rope(), prefixes if config.mode == "baked" else None, config.opset)

    with atomic_dir(out) as tmp:
        _write_contents(tmp, loaded, graph, prefixes, config)
    return out


def _check_output(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise PrefixDeployError(f"output {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ConfigError(f"output directory {out} exists and is not empty; pass force to replace it", "force")


def _write_contents(tmp: Path, loaded: LoadedModel, graph: onnx.ModelProto, prefixes: list[Prefix], config) -> None:
    graphs = _write_graphs(tmp, loaded, graph, config)
    hashes: dict[str, str] = {}  # relative path -> sha256, each file hashed once
    (tmp / "prefixes").mkdir()
    bank = config.mode == "baked" and len(prefixes) > 1
    entries = [_write_prefix(tmp, prefix, index if bank else None, hashes) for index, prefix in enumerate(prefixes)]
    tok = loaded.tokenizer
    tok.save_pretrained(str(tmp))
    if not (tmp / TOKENIZER_FILE).is_file():
        raise PrefixDeployError(f"the tokenizer of {config.model} has no fast (tokenizer.json) form; cannot bundle it")
    manifest = _manifest(loaded, config, entries, graphs)
    if config.mode == "baked" and len(prefixes) == 1:
        write_genai_config(tmp, manifest, MODEL_FILE, prefixes[0].num_virtual_tokens)
    manifest = add_reference_cases(tmp, manifest, MODEL_FILE)  # what `prefixdeploy check` replays on the target
    for path in sorted(p for p in tmp.rglob("*") if p.is_file()):
        rel = str(path.relative_to(tmp))
        if rel not in hashes:
            hashes[rel] = sha256_file(path)
    write_manifest(replace(manifest, files=dict(sorted(hashes.items()))), tmp)


def _write_graphs(tmp: Path, loaded: LoadedModel, graph: onnx.ModelProto, config) -> list[GraphEntry]:
    """The portable graph and the ONNX Runtime variants derived from it: fastest first, the portable graph last."""
    switchable = config.mode == "switchable"
    save_with_aligned_data(graph, tmp / MODEL_FILE, keep_weights=switchable and bool(config.precisions))
    portable = GraphEntry(MODEL_FILE, "fp32", "portable")
    if not config.precisions:
        return [portable]
    # The passes start from a switchable graph with its weights in memory: the portable one, unless it is baked.
    source = graph if switchable else build_decoder(loaded.arch, loaded.rope(), None, config.opset)
    calibration = _calibration_ids(loaded)
    graphs = []
    for precision in config.precisions:
        log.info("deriving the ONNX Runtime graph at %s", precision)
        file = f"model.ort.{precision}.onnx"
        shared = tmp / (MODEL_FILE + ".data")
        recipe = config.recipe_of(precision)
        build_ort_graph(source, loaded.arch, loaded.rope(), precision, tmp / file, shared, recipe, calibration)
        graphs.append(GraphEntry(file, precision, "ort", recipe=recipe))
    return [*graphs, portable]


def _calibration_ids(loaded: LoadedModel) -> list[int]:
    """The calibration text's tokens (int8's dynamic recipe), cut to the model's context."""
    ids = loaded.tokenizer(CALIBRATION_TEXT)["input_ids"]
    return list(ids[: loaded.dims.max_positions])


def _write_prefix(tmp: Path, prefix: Prefix, bank_index: int | None, hashes: dict[str, str]) -> PrefixEntry:
    """Save `prefix` under prefixes/, hash it into `hashes`; its manifest entry."""
    rel = f"prefixes/{prefix.name}.safetensors"
    save_prefix(prefix, tmp / rel)
    hashes[rel] = sha256_file(tmp / rel)
    length = prefix.num_virtual_tokens
    return PrefixEntry(name=prefix.name, num_virtual_tokens=length, file=rel, sha256=hashes[rel], bank_index=bank_index)


def _manifest(loaded: LoadedModel, config: ExportConfig, entries: list[PrefixEntry], graphs) -> Manifest:
    d, tok, model_config = loaded.dims, loaded.tokenizer, loaded.module.config
    eos = _eos_ids(loaded)
    pad = _in_vocab(tok.pad_token_id, d.vocab_size)
    pad = pad if pad is not None else (eos[0] if eos else 0)  # any id works: padded slots are masked
    return Manifest(
        model=loaded.facts,
        mode=config.mode,
        graphs=graphs,
        prefixes=entries,
        vocab_size=d.vocab_size,
        num_attention_heads=d.num_attention_heads,
        max_context=d.max_positions,
        eos_token_ids=eos,
        pad_token_id=int(pad),
        bos_token_id=_in_vocab(getattr(model_config, "bos_token_id", None), d.vocab_size),
        chat_template=tok.chat_template if isinstance(tok.chat_template, str) else None,
        chat_prompt=_chat_prompt(tok),
        chat_system=chat_system_split(tok),
        source_model=str(config.model),
        producer=f"prefixdeploy {__version__}",
    )


def _eos_ids(loaded: LoadedModel) -> list[int]:
    """EOS ids from the generation config, the model config and the tokenizer (chat models end turns differently)."""
    found: list[int] = []
    gen = getattr(loaded.module, "generation_config", None)
    for value in (getattr(gen, "eos_token_id", None), loaded.module.config.eos_token_id, loaded.tokenizer.eos_token_id):
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if _in_vocab(v, loaded.dims.vocab_size) is not None and v not in found:
                found.append(int(v))
    return found


def _in_vocab(token_id, vocab_size: int) -> int | None:
    return int(token_id) if isinstance(token_id, int) and 0 <= token_id < vocab_size else None


def _chat_prompt(tok) -> tuple[str, str] | None:
    """The chat template rendered around one user message, split at the message: (before, after).

    Lets the torch- and jinja-free runtime apply the template exactly for single-turn prompts.
    """
    if not getattr(tok, "chat_template", None):
        return None
    text = tok.apply_chat_template(
        [{"role": "user", "content": CHAT_SENTINEL}], tokenize=False, add_generation_prompt=True
    )
    if text.count(CHAT_SENTINEL) != 1:
        log.warning("the chat template does not render the message verbatim; --chat will be unavailable")
        return None
    before, after = text.split(CHAT_SENTINEL)
    return before, after
