"""The bundle format: `manifest.json` schema, its integer format version, KV I/O names, and file hashing.

Part of the runtime: imports only the standard library (never torch). The exporter writes to this
schema; the runtime reads it and checks every listed file's sha256 on load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from prefixdeploy.errors import BundleError
from prefixdeploy.runtime.atomic import atomic_path
from prefixdeploy.runtime.prefix import ModelFacts
from prefixdeploy.vocabulary import MODES, RECIPES

BUNDLE_FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
# Graphs exported before manifests recorded recipes were all of the default one (int4 mixed, int8 blocks), and the
# default is still not written.
UNRECORDED_RECIPES = {precision: recipes[0] for precision, recipes in RECIPES.items()}

# Decoder I/O names: the usual Hugging Face / Optimum / ONNX Runtime GenAI names.
INPUT_IDS = "input_ids"
ATTENTION_MASK = "attention_mask"
POSITION_IDS = "position_ids"
PREFIX_IDS = "prefix_ids"  # baked bank only: (B,) int64, which prefix each row uses
LOGITS = "logits"
LOGITS_TO_KEEP = "logits_to_keep"  # ONNX Runtime graph only: (1,) int64, logits for the last n positions
PAST_KEY = "past_key_values.{}.key"
PAST_VALUE = "past_key_values.{}.value"
PRESENT_KEY = "present.{}.key"
PRESENT_VALUE = "present.{}.value"
# A mixed-step graph only (exporter.optimize.mixed): the prompt chunk's row beside the decode rows, and which of the
# packed positions give logits
PREFILL_ATTENTION_MASK = "prefill_attention_mask"  # (1, W) int64
PREFILL_PAST_KEY = "prefill.past_key_values.{}.key"
PREFILL_PAST_VALUE = "prefill.past_key_values.{}.value"
PREFILL_PRESENT_KEY = "prefill.present.{}.key"
PREFILL_PRESENT_VALUE = "prefill.present.{}.value"
LOGIT_POSITIONS = "logit_positions"  # (K,) int64


def mixed_twin_file(graph_file: str) -> str:
    """Where an ONNX Runtime graph's mixed-step twin lies: model.ort.int8.onnx -> model.ort.int8.mixed.onnx."""
    return graph_file.removesuffix(".onnx") + ".mixed.onnx"


def layer_of(kv_name: str) -> int:
    """The layer of a KV input or output name: past_key_values.3.key -> 3."""
    return int(kv_name.split(".")[-2])


@dataclass(frozen=True, kw_only=True)
class PrefixEntry:
    name: str
    num_virtual_tokens: int
    file: str  # relative to the bundle
    sha256: str
    bank_index: int | None = None  # baked bank: the value of `prefix_ids` that selects it


@dataclass(frozen=True)
class GraphEntry:
    file: str  # relative path of the .onnx file
    precision: str = "fp32"  # fp32 | fp16 | int8 | int4
    kind: str = "portable"  # portable: standard ONNX ops only; ort: ONNX Runtime-specific optimized derivative
    # int4 graphs: which weights stay at 8 bits (vocabulary.INT4_RECIPES: mixed | pure); int8 graphs: which kernels
    # (INT8_RECIPES: blocks | dynamic); None for other precisions. Informational: the graph itself carries each
    # weight's bits and kernel, so a reader runs a recipe it does not know.
    recipe: str | None = None

    @property
    def weights(self) -> str:
        """The precision, with its recipe: `fp32`, `int4 pure`, `int8 dynamic`."""
        return f"{self.precision} {self.recipe}" if self.recipe else self.precision

    def to_json(self) -> dict:
        # A default recipe is not written: a reader from before recipes (which refuses unknown keys) still reads it.
        unwritten = (None, UNRECORDED_RECIPES.get(self.precision))
        return {k: v for k, v in self.__dict__.items() if k != "recipe" or v not in unwritten}

    @classmethod
    def from_json(cls, data: dict) -> GraphEntry:
        entry = cls(**data)
        if entry.precision in UNRECORDED_RECIPES and entry.recipe is None:
            return replace(entry, recipe=UNRECORDED_RECIPES[entry.precision])
        return entry


@dataclass(frozen=True, kw_only=True)
class Manifest:
    """Everything the runtime needs to know about a bundle, as written in `manifest.json`."""

    model: ModelFacts
    mode: str  # "switchable" | "baked"
    graphs: list[GraphEntry]
    prefixes: list[PrefixEntry]
    vocab_size: int
    num_attention_heads: int
    max_context: int  # prefix + prompt + new tokens must fit (GPT-2: n_positions counts the prefix too)
    eos_token_ids: list[int]
    pad_token_id: int
    bos_token_id: int | None = None
    chat_template: str | None = None  # the model's Jinja template, kept for other tools
    chat_prompt: tuple[str, str] | None = None  # (before, after): the template rendered around one user message
    # (before system, after system, before user, after user): the template rendered around a system message and a
    # user message, split where the system turn ends (see `TextCodec.encode_system_turn`); None: no such split
    chat_system: tuple[str, str, str, str] | None = None
    files: dict[str, str] = field(default_factory=dict)  # relative path -> sha256, every file but the manifest
    checks: str | None = None  # the reference cases `prefixdeploy check` replays (None: exported without them)
    source_model: str = ""
    producer: str = ""
    format_version: int = BUNDLE_FORMAT_VERSION

    def prefix(self, name: str) -> PrefixEntry:
        for entry in self.prefixes:
            if entry.name == name:
                return entry
        raise BundleError(f"unknown prefix {name!r}; this bundle has: {', '.join(self.prefix_names) or '(none)'}")

    @property
    def prefix_names(self) -> list[str]:
        return [p.name for p in self.prefixes]

    @property
    def is_bank(self) -> bool:
        """A baked bank: the graph takes `prefix_ids` (it still does after `remove-prefix` leaves one entry)."""
        return self.mode == "baked" and any(p.bank_index is not None for p in self.prefixes)

    def to_json(self) -> dict:
        return {
            "format": "prefixdeploy.bundle",
            "format_version": self.format_version,
            "producer": self.producer,
            "mode": self.mode,
            "model": {
                **self.model.to_json(),
                "source": self.source_model,
                "num_attention_heads": self.num_attention_heads,
                "vocab_size": self.vocab_size,
                "max_context": self.max_context,
            },
            "graphs": [g.to_json() for g in self.graphs],
            "prefixes": [p.__dict__ for p in self.prefixes],
            "generation": {
                "eos_token_ids": self.eos_token_ids,
                "pad_token_id": self.pad_token_id,
                "bos_token_id": self.bos_token_id,
                "chat_template": self.chat_template,
                "chat_prompt": list(self.chat_prompt) if self.chat_prompt else None,
                "chat_system": list(self.chat_system) if self.chat_system else None,
            },
            "files": self.files,
            "checks": self.checks,
        }

    @classmethod
    def from_json(cls, data: dict) -> Manifest:
        m, gen = data["model"], data["generation"]
        return cls(
            model=ModelFacts.from_json(m),
            mode=data["mode"],
            graphs=[GraphEntry.from_json(g) for g in data["graphs"]],
            prefixes=[PrefixEntry(**p) for p in data["prefixes"]],
            vocab_size=m["vocab_size"],
            num_attention_heads=m["num_attention_heads"],
            max_context=m["max_context"],
            eos_token_ids=list(gen["eos_token_ids"]),
            pad_token_id=gen["pad_token_id"],
            bos_token_id=gen.get("bos_token_id"),
            chat_template=gen.get("chat_template"),
            chat_prompt=tuple(gen["chat_prompt"]) if gen.get("chat_prompt") else None,
            chat_system=tuple(gen["chat_system"]) if gen.get("chat_system") else None,
            files=dict(data.get("files", {})),
            checks=data.get("checks"),
            source_model=m.get("source", ""),
            producer=data.get("producer", ""),
            format_version=data["format_version"],
        )


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The file's sha256, read through one reused buffer (a new 16 MiB block per read left ~30 MiB of freed memory
    resident in the hashing thread's heap: measured as peak RSS with `prefixdeploy bench`)."""
    h = hashlib.sha256()
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buffer):
            h.update(view[:n])
    return h.hexdigest()


def write_manifest(manifest: Manifest, directory: Path) -> None:
    write_manifest_json(manifest.to_json(), directory)


def write_manifest_json(data: dict, directory: Path) -> None:
    """Replace `manifest.json` atomically with `data` (a reader sees the old manifest or the new one)."""
    with atomic_path(directory / MANIFEST_NAME) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def read_manifest(directory: str | Path) -> Manifest:
    """Parse and validate `manifest.json` (format version first); does not hash files (see `check_files`)."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise BundleError(f"{directory} is not a bundle directory (it does not exist or is not a directory)")
    if not path.is_file():
        raise BundleError(f"{directory} is not a bundle: {MANIFEST_NAME} is missing")
    try:
        data = json.loads(path.read_text())
        version = data["format_version"]
    except (ValueError, KeyError, TypeError) as e:
        raise BundleError(f"{path} is not a valid bundle manifest ({e})") from None
    if data.get("format") != "prefixdeploy.bundle":
        raise BundleError(f"{path} is not a prefixdeploy bundle manifest")
    if not isinstance(version, int) or version > BUNDLE_FORMAT_VERSION:
        raise BundleError(
            f"bundle format version {version} is newer than this runtime reads ({BUNDLE_FORMAT_VERSION}); "
            "upgrade prefixdeploy or re-export the bundle."
        )
    try:
        manifest = Manifest.from_json(data)
    except (KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{path} is missing or has a malformed field: {e}") from None
    if manifest.mode not in MODES:
        raise BundleError(f"{path}: unknown mode {manifest.mode!r} (expected one of {', '.join(MODES)})")
    return manifest


def check_files(manifest: Manifest, directory: Path) -> None:
    """Raise BundleError if a listed file is missing or its sha256 differs from the manifest's."""
    for rel, want in manifest.files.items():
        path = directory / rel
        if not path.is_file():
            raise BundleError(f"bundle file {rel} is missing from {directory}; re-export the bundle")
        got = sha256_file(path)
        if got != want:
            raise BundleError(
                f"bundle file {rel} does not match its manifest hash (expected sha256 {want[:12]}…, "
                f"found {got[:12]}…): the bundle was modified or damaged; re-export it"
            )
