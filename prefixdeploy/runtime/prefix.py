"""The prefix file format: per-layer keys and values of one task, with the model facts they fit.

Part of the runtime: imports only numpy, safetensors' numpy API and the standard library (never torch).

Shape letters: L layers, H_kv key/value heads, P prefix length (PEFT's `num_virtual_tokens`), D head dim.
A prefix file holds two float32 tensors, `key` and `value`, each (L, H_kv, P, D), and string metadata in the
safetensors header (see `PREFIX_FORMAT_VERSION`).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.runtime.atomic import atomic_path

PREFIX_FORMAT_VERSION = 1
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # the whole name (fullmatch: `$` would allow a "\n")
# Keys and values above this magnitude are not a trained prefix: trained ones (the samples, SmolLM2) stay under 4, and
# a real text's keys and values (SmolLM2) under 25; an fp16 KV cache overflows at 65504 (docs/serving-security.md).
MAX_PREFIX_MAGNITUDE = 1e4

# What a prefix's last positions are, which decides how a prompt after it is tokenized (`TextCodec.encode`):
VIRTUAL = (
    "virtual"  # learned virtual tokens (trained, imported): a prompt starts a sequence (BOS if the model adds one)
)
TEXT = "text"  # real tokens of a text (`prefix-from-text`): a prompt continues that text (no BOS)
SYSTEM_TURN = "system-turn"  # a chat system message (`--chat-system`): a chat prompt renders the user turn only
ENDS_WITH = (VIRTUAL, TEXT, SYSTEM_TURN)


@dataclass(frozen=True)
class ModelFacts:
    """What a prefix must agree with: the geometry of a decoder's KV cache, and which weights it was tuned on."""

    architecture: str  # Hugging Face model_type, e.g. "gpt2", "llama"
    num_layers: int
    num_key_value_heads: int
    head_dim: int
    hidden_size: int
    fingerprint: str | None = None  # sha256-based digest of the weights; None when unknown

    def geometry(self) -> str:
        return geometry(self.num_layers, self.num_key_value_heads, self.head_dim)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ModelFacts:
        fields = ("architecture", "num_layers", "num_key_value_heads", "head_dim", "hidden_size")
        return cls(**{k: data[k] for k in fields}, fingerprint=data.get("fingerprint"))


def geometry(num_layers: int, num_key_value_heads: int, head_dim: int) -> str:
    """A KV geometry as messages spell it: "12 layers × 4 kv heads × 64"."""
    return f"{num_layers} layers × {num_key_value_heads} kv heads × {head_dim}"


def mismatch_error(
    name: str, found: str, model: ModelFacts, model_name: str = "the model", needs: str = ""
) -> PrefixMismatchError:
    """The one "prefix does not fit this model" error: what the prefix has, what the model has, what to do.

    found: what the prefix has ("has 12 layers × …", "was tuned on …"); needs: what the model needs, if not obvious.
    """
    return PrefixMismatchError(
        f"prefix {name!r} {found}; {model_name} has {model.geometry()}{needs}. "
        "Re-train or import the prefix for this model."
    )


def check_prefix_name(name: str) -> str:
    """Prefix names become file names and CLI words: letters, digits, `_.-`, at most 64 characters."""
    if not _NAME_RE.fullmatch(name):
        raise PrefixSourceError(
            f"prefix name {name!r} is not valid: use letters, digits, '_', '.', '-' (at most 64, no leading '.' or '-')"
        )
    return name


@dataclass(frozen=True, eq=False)
class Prefix:
    """One task's prefix: the pre-filled KV cache of every layer. Prefix keys carry no position encoding."""

    name: str
    key: np.ndarray  # (L, H_kv, P, D) float32
    value: np.ndarray  # (L, H_kv, P, D) float32
    model: ModelFacts  # the model facts it fits
    ends_with: str = VIRTUAL  # one of ENDS_WITH
    source: str = ""  # where it came from, for people (`prefixdeploy prefixes`); "" when unknown
    bank_index: int | None = None  # in a loaded baked bank: the `prefix_ids` value that selects it (set by load_bundle)

    def __post_init__(self):
        check_prefix_name(self.name)
        if self.ends_with not in ENDS_WITH:
            raise PrefixSourceError(
                f"prefix {self.name!r}: ends_with must be one of {ENDS_WITH}, not {self.ends_with!r}"
            )
        m = self.model
        want = (m.num_layers, m.num_key_value_heads, self.num_virtual_tokens, m.head_dim)
        for part in (self.key, self.value):
            if part.shape != want or part.dtype != np.float32:
                raise PrefixSourceError(
                    f"prefix {self.name!r}: expected float32 arrays of shape {want}, found {part.dtype} {part.shape}"
                )

    @property
    def num_virtual_tokens(self) -> int:
        return int(self.key.shape[2])

    @property
    def nbytes(self) -> int:
        return self.key.nbytes + self.value.nbytes

    def check_fits(self, model: ModelFacts, model_name: str = "the model") -> None:
        """Raise `PrefixMismatchError` naming both shapes if this prefix was made for another geometry."""
        if self.model.geometry() != model.geometry():
            raise mismatch_error(self.name, f"has {self.model.geometry()}", model, model_name)

    def renamed(self, name: str) -> Prefix:
        return replace(self, name=name)


def check_prefix_values(prefix: Prefix) -> None:
    """Raise PrefixSourceError unless every key and value is finite and at most MAX_PREFIX_MAGNITUDE in size."""
    for part, array in (("keys", prefix.key), ("values", prefix.value)):
        if not np.isfinite(array).all():
            raise PrefixSourceError(f"prefix {prefix.name!r}: its {part} hold NaN or infinite values")
        largest = float(np.abs(array).max()) if array.size else 0.0
        if largest > MAX_PREFIX_MAGNITUDE:
            raise PrefixSourceError(
                f"prefix {prefix.name!r}: its {part} reach {largest:.3g}; a trained prefix stays far below "
                f"{MAX_PREFIX_MAGNITUDE:g} (an fp16 cache overflows at 65504), so this one would give non-finite "
                "logits: re-train or re-import it"
            )


def prefix_from_flat(flat: np.ndarray, model: ModelFacts, name: str) -> Prefix:
    """Split the common flat layout (P, 2·L·H_kv·D), laid out [L0.K | L0.V | L1.K | …], head-major, into a Prefix.

    This is PEFT's `prompt_embeddings`, Li & Liang's `control_trans` output and P-Tuning v2's `prefix_encoder` output.
    """
    L, H, D = model.num_layers, model.num_key_value_heads, model.head_dim
    flat = np.asarray(flat, dtype=np.float32)
    if flat.ndim != 2 or flat.shape[1] != 2 * L * H * D:
        width = flat.shape[1] if flat.ndim == 2 else "?"
        needs = f" (keys and values: 2 × that = {2 * L * H * D} values per virtual token)"
        raise mismatch_error(name, f"has {width} values per virtual token", model, needs=needs)
    P = flat.shape[0]
    kv = flat.reshape(P, 2 * L, H, D).transpose(1, 2, 0, 3)  # (2L, H_kv, P, D)
    key = np.ascontiguousarray(kv[0::2])  # (L, H_kv, P, D)
    value = np.ascontiguousarray(kv[1::2])  # (L, H_kv, P, D)
    return Prefix(name=name, key=key, value=value, model=model)


def prefix_to_flat(prefix: Prefix) -> np.ndarray:
    """Inverse of `prefix_from_flat`: (P, 2·L·H_kv·D) float32, the layout PEFT saves as `prompt_embeddings`."""
    kv = np.stack([prefix.key, prefix.value], axis=1)  # (L, 2, H_kv, P, D)
    L, _, H, P, D = kv.shape
    return np.ascontiguousarray(kv.reshape(2 * L, H, P, D).transpose(2, 0, 1, 3).reshape(P, 2 * L * H * D))


def save_prefix(prefix: Prefix, path: str | Path) -> None:
    """Write `prefix` as a prefix `.safetensors` file, atomically (a reader never sees half a file)."""
    from safetensors.numpy import save_file

    meta = {
        "format": "prefixdeploy.prefix",
        "format_version": str(PREFIX_FORMAT_VERSION),
        "name": prefix.name,
        "num_virtual_tokens": str(prefix.num_virtual_tokens),
        "model": json.dumps(prefix.model.to_json(), sort_keys=True),
        "ends_with": prefix.ends_with,
        "source": prefix.source,
    }
    with atomic_path(Path(path)) as tmp:
        save_file({"key": prefix.key, "value": prefix.value}, str(tmp), metadata=meta)


def is_prefix_file(path: str | Path) -> bool:
    """True if `path` is a safetensors file written by `save_prefix` (reads the header only)."""
    try:
        return read_safetensors_metadata(path).get("format") == "prefixdeploy.prefix"
    except PrefixSourceError:
        return False


def read_safetensors_metadata(path: str | Path) -> dict[str, str]:
    """The `__metadata__` of a safetensors header; raises PrefixSourceError if the file is not valid safetensors."""
    return read_safetensors_header(path)[0].get("__metadata__") or {}


def read_safetensors_header(path: str | Path) -> tuple[dict, int]:
    """A safetensors file's JSON header and the offset where its data starts; PrefixSourceError if not readable.

    The header maps each tensor name to its `dtype`, `shape` and `data_offsets` (relative to the data start).
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) != 8:
                raise ValueError("file shorter than the 8-byte header length")
            n = int.from_bytes(head, "little")
            if n > 100_000_000 or n > path.stat().st_size - 8:
                raise ValueError("header length runs past the end of the file")
            header = json.loads(f.read(n))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (OSError, ValueError) as e:
        raise PrefixSourceError(f"{path} is not a readable safetensors file ({e})") from None
    return header, 8 + n


def load_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a safetensors file as numpy arrays; a corrupt or truncated file raises PrefixSourceError."""
    from safetensors.numpy import load_file

    read_safetensors_metadata(path)  # a clean message for a bad header
    try:
        return load_file(str(path))
    except Exception as e:  # safetensors raises its own SafetensorError and others for truncated data
        raise PrefixSourceError(f"{path} is corrupt or truncated: {e}") from None


def load_prefix(path: str | Path, name: str | None = None) -> Prefix:
    """Read a prefix `.safetensors` written by `save_prefix`. `name` overrides the stored task name."""
    path = Path(path)
    meta = read_safetensors_metadata(path)
    if meta.get("format") != "prefixdeploy.prefix":
        raise PrefixSourceError(f"{path} is a safetensors file but not a prefixdeploy prefix (no prefix metadata)")
    version = int(meta.get("format_version", "0"))
    if version > PREFIX_FORMAT_VERSION:
        raise PrefixSourceError(
            f"{path} has prefix format version {version}; this prefixdeploy reads up to {PREFIX_FORMAT_VERSION}. "
            "Upgrade prefixdeploy."
        )
    tensors = load_safetensors(path)
    if set(tensors) != {"key", "value"}:
        raise PrefixSourceError(f"{path}: expected tensors 'key' and 'value', found {sorted(tensors)}")
    model = ModelFacts.from_json(json.loads(meta["model"]))
    return Prefix(
        name=name or meta.get("name") or path.stem,
        key=tensors["key"],
        value=tensors["value"],
        model=model,
        ends_with=meta.get("ends_with", VIRTUAL),
        source=meta.get("source", ""),
    )
