"""Reading other tools' saved weights for the importers: weight files, their tensor names, config files, the MLPs.

Weights come from safetensors (numpy, no torch) or from a PyTorch `.bin` loaded with `torch.load(weights_only=True)`,
which refuses pickled code; torch is imported only when a `.bin` is actually read. Listing tensor names (for
detection) never unpickles anything: it reads the safetensors header, a sharded save's index, or the pickle opcodes.
"""

from __future__ import annotations

import io
import json
import logging
import math
import pickle
import pickletools
import re
import zipfile
from collections.abc import Collection
from pathlib import Path
from typing import BinaryIO

import numpy as np

from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.runtime.prefix import ModelFacts, geometry, mismatch_error, read_safetensors_header

log = logging.getLogger(__name__)

# What a checkpoint directory holds, in the order we prefer them (safetensors first: no torch needed).
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
_LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a"  # pickle protocol 2, then torch's magic number as a 10-byte long
Linear = tuple[np.ndarray, np.ndarray | None]  # weight (out, in), bias (out,) or None: torch's nn.Linear layout
# safetensors dtypes a prefix tensor may have -> how its bytes are read (BF16 as raw bits, widened in _to_float32)
_FLOAT_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "F64": "<f8"}
_DTYPE_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}  # as torch and numpy say
# GPT2Config's shape defaults (GPT-2 small): what transformers reads for a gpt2 config.json that omits them, in 3.2
# (which Li & Liang's code ships) as in every version since
GPT2_DEFAULTS = {"n_layer": 12, "n_head": 12, "n_embd": 768}


def find_weights(path: Path) -> Path | None:
    """The weights file of a checkpoint directory (see WEIGHT_FILES), or `path` itself if it is a file."""
    if path.is_dir():
        return next((path / f for f in WEIGHT_FILES if (path / f).is_file()), None)
    return path if path.is_file() else None


def tensor_names(weights: Path) -> list[str]:
    """Names of the tensors in a weights file, read cheaply and without unpickling; [] if it cannot be read.

    For a `.bin` this is every string in the pickle: a superset of the state dict's keys, enough to detect a format.
    """
    try:
        if weights.name.endswith(".index.json"):
            return list(json.loads(weights.read_text())["weight_map"])
        if weights.suffix == ".safetensors":
            return [k for k in read_safetensors_header(weights)[0] if k != "__metadata__"]
        return _pickle_strings(weights)
    except Exception:  # detection runs on arbitrary user paths: any unreadable file is simply "not ours"
        return []


def _pickle_strings(path: Path) -> list[str]:
    """Every string constant in a torch.save file's pickle (dict keys among them), found by walking its opcodes."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as z:
            pkl = next(n for n in z.namelist() if n.rsplit("/", 1)[-1] == "data.pkl")
            return _strings(io.BytesIO(z.read(pkl)), pickles=1)
    with path.open("rb") as f:
        if f.read(4) != _LEGACY_TORCH_MAGIC:
            return []
        f.seek(0)  # the legacy format: magic number, protocol, sys info, then the state dict, as 4 pickles
        return _strings(f, pickles=4)


def _strings(stream: BinaryIO, pickles: int) -> list[str]:
    found = []
    for _ in range(pickles):  # genops stops after each pickle's STOP opcode
        found += [arg for op, arg, _ in pickletools.genops(stream) if "UNICODE" in op.name]
    return found


def read_tensors(weights: Path, names: Collection[str]) -> dict[str, np.ndarray]:
    """The named tensors (those present) of a weights file as float32 numpy arrays; other tensors are not loaded."""
    if weights.name.endswith(".index.json"):
        return _read_sharded(weights, names)
    if weights.suffix == ".safetensors":
        return _read_safetensors(weights, names)
    return load_bin(weights, names)


def _read_sharded(index: Path, names: Collection[str]) -> dict[str, np.ndarray]:
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PrefixSourceError(f"{index} is not a readable shard index ({type(e).__name__}: {e})") from None
    shards: dict[str, list[str]] = {}
    for name in names:
        if name in weight_map:
            shards.setdefault(Path(weight_map[name]).name, []).append(name)
    out = {}
    for shard, wanted in shards.items():
        out.update(read_tensors(index.parent / shard, wanted))
    return out


def _read_safetensors(path: Path, names: Collection[str]) -> dict[str, np.ndarray]:
    """The named tensors of a safetensors file as float32, read at the header's offsets (no torch, bf16 included).

    safetensors' numpy API cannot return bf16 (numpy has no such type), so the bytes are read here; a bf16 value is
    the upper half of the float32 with the same bits, so widening it is exact.
    """
    header, start = read_safetensors_header(path)
    entries = {k: v for k, v in header.items() if k != "__metadata__"}
    _check_data_size(path, entries, start)
    specs = {name: _entry_spec(path, name, entries[name]) for name in sorted(set(names) & entries.keys())}
    out = {}
    with path.open("rb") as f:
        for name, (dtype, shape, begin, end) in specs.items():
            f.seek(start + begin)
            out[name] = _to_float32(np.frombuffer(f.read(end - begin), _FLOAT_DTYPES[dtype]), dtype).reshape(shape)
    _note_stored_as_float32(path, {_DTYPE_NAMES[dtype] for dtype, *_ in specs.values()})
    return out


def _check_data_size(path: Path, entries: dict, start: int) -> None:
    """The data after the header is exactly as long as the header says (as safetensors itself checks)."""
    try:
        data = max((int(entry["data_offsets"][1]) for entry in entries.values()), default=0)
    except (KeyError, TypeError, ValueError, IndexError):
        raise PrefixSourceError(f"{path} is corrupt: a header entry has no data_offsets") from None
    size = path.stat().st_size
    if start + data != size:
        raise PrefixSourceError(
            f"{path} is corrupt or truncated: its header describes {data} bytes of tensor data, the file holds "
            f"{size - start}"
        )


def _entry_spec(path: Path, name: str, entry: dict) -> tuple[str, tuple[int, ...], int, int]:
    """(dtype, shape, begin, end) of a tensor to read, checked to be floating point with a span that fits its shape."""
    dtype = entry.get("dtype") if isinstance(entry, dict) else None
    if dtype not in _FLOAT_DTYPES:
        raise PrefixSourceError(
            f"{path}: tensor {name!r} is {dtype}; expected floating point ({', '.join(_FLOAT_DTYPES)})"
        )
    try:
        shape, (begin, end) = tuple(int(n) for n in entry["shape"]), entry["data_offsets"]
        ok = 0 <= begin <= end and end - begin == math.prod(shape) * np.dtype(_FLOAT_DTYPES[dtype]).itemsize
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise PrefixSourceError(f"{path} is corrupt: the header entry of {name!r} ({entry}) does not describe a tensor")
    return dtype, shape, begin, end


def _to_float32(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":  # bf16 bits are the high 16 bits of a float32
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32)


def _note_stored_as_float32(path: Path, dtypes: set[str]) -> None:
    """Say so when a source's tensors were not float32: the prefix file holds float32 (bf16 and fp16 widen exactly)."""
    others = sorted(dtypes - {"float32"})
    if others:
        log.info("%s holds %s tensors; the prefix is stored as float32", path, " and ".join(others))


def load_bin(path: Path, names: Collection[str] | None = None) -> dict[str, np.ndarray]:
    """Tensors of a PyTorch `.bin` state dict (all, or those in `names`) as float32 numpy arrays.

    Loaded with `torch.load(weights_only=True)`: tensors and plain containers only, so no pickled code runs.
    """
    try:
        import torch
    except ImportError:
        raise PrefixSourceError(
            f"{path} is a PyTorch .bin file and reading it needs torch: pip install 'prefixdeploy[export]', "
            "or convert the weights to safetensors"
        ) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as e:
        raise PrefixSourceError(_unpickling_message(path, e)) from None
    except Exception as e:  # torch.load reports corrupt input as RuntimeError, EOFError, KeyError, OSError, ...
        raise PrefixSourceError(
            f"{path} is not a readable PyTorch weights file ({_first_line(e)}); expected a state dict saved with "
            "torch.save"
        ) from None
    if not isinstance(state, dict):
        raise PrefixSourceError(f"{path} holds a {type(state).__name__}; expected a state dict of named tensors")
    kept = {k: v for k, v in state.items() if isinstance(v, torch.Tensor) and (names is None or k in names)}
    _note_stored_as_float32(path, {str(v.dtype).removeprefix("torch.") for v in kept.values()})
    return {k: np.array(v.detach().float().numpy(), dtype=np.float32) for k, v in kept.items()}


def _unpickling_message(path: Path, e: Exception) -> str:
    blocked = [line.strip().rstrip(".") for line in str(e).splitlines() if "GLOBAL" in line]
    if not blocked:
        return f"{path} is not a readable PyTorch weights file ({_first_line(e)}); it may be truncated or corrupt"
    return (
        f"{path} holds pickled objects other than tensors ({blocked[0]}); refusing to unpickle it, since that could "
        "run code. Re-save only the state dict of tensors (or safetensors) where the file is trusted"
    )


def _first_line(e: Exception) -> str:
    """The first sentence of an exception's message: upstream messages run to paragraphs."""
    text = str(e).strip()
    return text.splitlines()[0].split(". ")[0] if text else type(e).__name__


def read_config(path: Path) -> dict:
    """A JSON config file (`config.json`, `adapter_config.json`) as a dict; {} if there is none."""
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PrefixSourceError(f"{path} is not readable JSON ({e}); fix or remove it") from None
    if not isinstance(config, dict):
        raise PrefixSourceError(f"{path} holds a JSON {type(config).__name__}; expected an object (a config)")
    return config


def config_geometry(config: dict) -> tuple[int, int, int] | None:
    """(L, H_kv, D) of the model a config describes, under HF, GPT-2 and ChatGLM names; None if it does not say."""

    def first(*keys):
        return next((config[k] for k in keys if isinstance(config.get(k), int) and config[k] > 0), None)

    L = first("num_hidden_layers", "n_layer", "num_layers")
    heads = first("num_attention_heads", "n_head")
    kv_heads = first("num_key_value_heads") or (
        first("multi_query_group_num") if config.get("multi_query_attention") else None
    )
    hidden = first("hidden_size", "n_embd")
    head_dim = first("head_dim", "kv_channels") or (hidden // heads if hidden and heads else None)
    if not (L and (kv_heads or heads) and head_dim):
        return None
    return L, kv_heads or heads, head_dim


def check_geometry(config: dict, facts: ModelFacts, name: str, where: Path) -> None:
    """Raise PrefixMismatchError naming both shapes if the config the prefix was tuned with is another geometry.

    A gpt2 config without `n_layer`, `n_head` or `n_embd` means GPT2Config's defaults (GPT-2 small), as transformers
    reads it; without them such a prefix could be split into any geometry of the same total width.
    """
    defaulted = [k for k in GPT2_DEFAULTS if k not in config] if config.get("model_type") == "gpt2" else []
    tuned_on = config_geometry({**GPT2_DEFAULTS, **config} if defaulted else config)
    if tuned_on is not None and geometry(*tuned_on) != facts.geometry():
        note = f", which records no {', '.join(defaulted)}: the GPT-2 defaults" if defaulted else ""
        raise mismatch_error(name, f"was tuned on {geometry(*tuned_on)} (per {where}{note})", facts)


def key_prefixes(names: list[str], anchor: re.Pattern) -> list[str]:
    """The distinct key prefixes (`''`, `'model.'`, …) in front of the names `anchor` matches (group 1)."""
    return sorted({m.group(1) for n in names if (m := anchor.match(n))})


def strip_prefix(tensors: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def mlp_layers(tensors: dict[str, np.ndarray], module: str, where: Path) -> list[Linear]:
    """The Linear layers of an `nn.Sequential(Linear, Tanh, Linear, …)` saved as `{module}.0.weight`, …"""
    pattern = re.compile(rf"^{re.escape(module)}\.(\d+)\.weight$")
    idx = sorted(int(m.group(1)) for k in tensors if (m := pattern.match(k)))
    if not idx or idx != list(range(0, 2 * len(idx), 2)):
        raise PrefixSourceError(
            f"{where}: expected Linear layers {module}.0, {module}.2, … with Tanh between them; found layers at {idx}"
        )
    return [(tensors[f"{module}.{i}.weight"], tensors.get(f"{module}.{i}.bias")) for i in idx]


def apply_mlp(x: np.ndarray, layers: list[Linear], where: Path) -> np.ndarray:
    """Linear → Tanh → … → Linear on the rows of x (P, in) in eval mode, accumulated in float64 -> (P, out) float32."""
    if x.ndim != 2:
        raise PrefixSourceError(f"{where}: the prefix MLP's input should be (P, width); found shape {x.shape}")
    h = x.astype(np.float64)
    for i, (w, b) in enumerate(layers):
        if w.ndim != 2 or w.shape[1] != h.shape[1] or (b is not None and b.shape != (w.shape[0],)):
            bias = "no bias" if b is None else f"bias {b.shape}"
            raise PrefixSourceError(
                f"{where}: layer {i} of the prefix MLP has weight {w.shape} and {bias}; expected weight "
                f"(out, {h.shape[1]}) and bias (out,)"
            )
        h = h @ w.T.astype(np.float64) + (0.0 if b is None else b.astype(np.float64))
        if i < len(layers) - 1:
            h = np.tanh(h)
    return h.astype(np.float32)


def checkpoint_config(path: Path, markers: tuple[str, ...]) -> tuple[dict, Path]:
    """The config.json of a checkpoint directory, and where it is.

    For a weights file given directly, the config.json beside it counts only if it has one of `markers` (the
    format's own keys): otherwise it may describe something else in the same folder.
    """
    directory = path if path.is_dir() else path.parent
    config = read_config(directory / "config.json")
    if not path.is_dir() and not any(k in config for k in markers):
        config = {}
    return config, directory / "config.json"


def single_prefix(prefixes: list[str], weights: Path, what: str) -> str:
    """The one key prefix a checkpoint keeps `what` under; a clear error for none or several."""
    if len(prefixes) == 1:
        return prefixes[0]
    if not prefixes:
        raise PrefixSourceError(f"{weights}: expected {what} (under any key prefix); found no such tensors")
    listed = ", ".join(repr(p) for p in prefixes)
    raise PrefixSourceError(f"{weights} holds {what} under several key prefixes ({listed}); keep one per file")
