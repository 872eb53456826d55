"""Load a frozen Hugging Face decoder (hub id, local directory or `.gguf` file) with its tokenizer and facts.

Used by the importers, the exporter and training (see docs/architecture.md); imports torch only inside functions.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.models.archs import get_arch
from prefixdeploy.models.archs.base import ArchDims, ArchSpec, PositionStyle, RopeSpec
from prefixdeploy.runtime.prefix import ModelFacts

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A frozen HF causal LM in fp32 eval mode, its tokenizer, and what the exporter derives from it."""

    source: str  # what the user passed as MODEL
    module: object  # the transformers PreTrainedModel (an nn.Module)
    tokenizer: object  # transformers tokenizer

    @cached_property
    def state(self) -> dict[str, np.ndarray]:
        """fp32 numpy views of the weights (no copy)."""
        return {k: v.detach().float().numpy() for k, v in self.module.state_dict().items()}

    @cached_property
    def arch(self) -> ArchSpec:
        spec = get_arch(self.module.config.model_type)(self.module.config, self.state)
        spec.check_config()
        return spec

    @property
    def dims(self) -> ArchDims:
        return self.arch.dims()

    @cached_property
    def facts(self) -> ModelFacts:
        d = self.dims
        return ModelFacts(
            architecture=self.module.config.model_type,
            num_layers=d.num_layers,
            num_key_value_heads=d.num_key_value_heads,
            head_dim=d.head_dim,
            hidden_size=d.hidden_size,
            fingerprint=weights_fingerprint(self.state),
        )

    def rope(self) -> RopeSpec | None:
        if self.arch.positions is not PositionStyle.ROPE:
            return None
        rotary = self.module.get_decoder().rotary_emb
        if hasattr(rotary, "inv_freq"):
            return _rope_table(rotary, "")
        # One table per layer type (Gemma 3): the global layers' and the sliding layers' own.
        local = _rope_table(rotary, "sliding_attention_") if hasattr(rotary, "sliding_attention_inv_freq") else None
        if not hasattr(rotary, "full_attention_inv_freq"):
            return local
        return replace(_rope_table(rotary, "full_attention_"), local=local)


def _rope_table(rotary, prefix: str) -> RopeSpec:
    """The table HF's rotary module holds under `prefix`: its original (short) frequencies, since a longrope model
    swaps `inv_freq` once it has seen a sequence past original_max_position_embeddings (the arch caps the context)."""
    inv_freq = getattr(rotary, f"{prefix}original_inv_freq", None)
    inv_freq = getattr(rotary, f"{prefix}inv_freq") if inv_freq is None else inv_freq
    return RopeSpec(inv_freq.detach().float().numpy(), float(getattr(rotary, f"{prefix}attention_scaling", 1.0)))


def weights_fingerprint(state: dict[str, np.ndarray], sample: int = 4096) -> str:
    """A cheap digest of the weights: every tensor's name, shape and its first and last `sample` values (fp32).

    Tells a prefix tuned on one checkpoint from another of the same shape, without hashing gigabytes.
    """
    h = hashlib.sha256()
    for name in sorted(state):
        flat = np.ascontiguousarray(state[name], dtype=np.float32).reshape(-1)
        h.update(f"{name}{flat.shape}".encode())
        h.update(flat[:sample].tobytes())
        h.update(flat[-sample:].tobytes())
    return "sha256:" + h.hexdigest()[:32]


def _quiet_transformers() -> None:
    """transformers' own progress bars and warnings go to stderr; show them only with -v (INFO logging)."""
    from transformers.utils import logging as hf_logging

    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()


def load_model(source: str) -> LoadedModel:
    """Load MODEL: a `.gguf` file, a local directory, or a hub id (hub downloads need network access)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(source)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise PrefixDeployError(f"model file {source} does not exist")
        where, kwargs = str(path.parent), {"gguf_file": path.name}
    elif path.exists():
        if not path.is_dir():
            raise PrefixDeployError(f"model {source} is a file but not a .gguf; pass a model directory or a .gguf")
        where, kwargs = str(path), {}
    else:
        where, kwargs = source, {}
    log.info("loading model %s", source)
    _quiet_transformers()
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PrefixDeployError(
            f"could not load model {source!r}: {first} (pass a local model directory or .gguf file when offline)"
        ) from None
    model.eval()
    loaded = LoadedModel(source=source, module=model, tokenizer=tokenizer)
    _ = loaded.arch  # refuse unsupported architectures before any work
    return loaded


def save_plain_copy(loaded: LoadedModel, directory: Path) -> None:
    """Save the model as a plain fp32 HF directory (a GGUF-loaded model refuses save_pretrained as 'quantized')."""
    from transformers import AutoModelForCausalLM

    config = loaded.module.config
    if hasattr(config, "quantization_config"):
        config = type(config).from_dict({k: v for k, v in config.to_dict().items() if k != "quantization_config"})
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(loaded.module.state_dict())
    plain.save_pretrained(directory)
    loaded.tokenizer.save_pretrained(directory)
