"""Checkpoints of a training run (resume exactly where it stopped) and its outputs: the folded prefix, a PEFT adapter.

A checkpoint holds the trainable prefix parameters (the MLP too), the optimizer, the scheduler, the loop's position
(epoch, batch, step), early-stopping state and the RNG states, in one `checkpoint.pt` replaced atomically.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.atomic import atomic_dir, atomic_path
from prefixdeploy.runtime.prefix import ModelFacts, Prefix, prefix_from_flat
from prefixdeploy.training.config import TrainConfig

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_VERSION = 1
ADAPTER = "default"  # PEFT's adapter name


@dataclass
class TrainState:
    """Where the loop is; everything needed, with the tensors, to continue it bit for bit."""

    epoch: int = 0  # the epoch in progress (0-based)
    batch: int = 0  # batches of that epoch already done
    step: int = 0  # optimizer steps so far
    loss_sum: float = 0.0  # summed target-token loss since the last evaluation
    loss_tokens: int = 0  # target tokens in loss_sum
    train_loss: float = math.nan  # mean target-token loss over the last evaluation interval
    initial_loss: float = math.nan  # validation loss before the first step
    best_loss: float = math.inf  # best validation loss so far
    bad_evals: int = 0  # evaluations since best_loss improved
    stopped: bool = False  # early stopping fired
    best: dict = field(default_factory=dict)  # prompt-encoder state dict at best_loss (empty: none yet)


class CheckpointError(PrefixDeployError):
    """A checkpoint directory cannot be resumed (missing, unreadable, or from a different run)."""


def checkpoint_path(config: TrainConfig) -> Path:
    return Path(config.checkpoint_dir) / CHECKPOINT_FILE


def check_checkpoint_dir(config: TrainConfig) -> None:
    """Before the slow work: `resume` needs a checkpoint; a fresh run must not silently overwrite one."""
    if config.checkpoint_dir is None:
        return
    path = checkpoint_path(config)
    if config.resume and not path.is_file():
        raise CheckpointError(
            f"resume: no checkpoint in {config.checkpoint_dir}; run without resume to start", fields=("resume",)
        )
    if not config.resume and path.exists():
        raise CheckpointError(
            f"{config.checkpoint_dir} already holds a checkpoint; pass resume to continue it or choose another "
            "checkpoint_dir",
            fields=("resume", "checkpoint_dir"),
        )


def save_checkpoint(config: TrainConfig, model, optimizer, scheduler, state: TrainState) -> None:
    """Write the checkpoint atomically (temp file, then rename): an interrupted write leaves the last one intact."""
    path = checkpoint_path(config)
    numpy_state = np.random.get_state()
    data = {
        "version": CHECKPOINT_VERSION,
        "trajectory": config.trajectory(),
        "prompt_encoder": model.prompt_encoder.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "state": asdict(state),
        "rng": {
            "torch": torch.get_rng_state(),
            "numpy": (numpy_state[0], numpy_state[1].tolist(), *numpy_state[2:]),
            "python": random.getstate(),
        },
    }
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def restore_checkpoint(config: TrainConfig, model, optimizer, scheduler) -> TrainState:
    """Load the checkpoint into model, optimizer and scheduler; the run's settings must match the checkpoint's."""
    path = checkpoint_path(config)
    try:
        data = torch.load(path, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        raise CheckpointError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
    if data.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(f"{path} has checkpoint version {data.get('version')}; expected {CHECKPOINT_VERSION}")
    saved, now = data["trajectory"], config.trajectory()
    changed = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in changed)
        raise CheckpointError(f"cannot resume {path}: these settings differ from the checkpoint's: {diffs}")
    model.prompt_encoder.load_state_dict(data["prompt_encoder"])
    optimizer.load_state_dict(data["optimizer"])
    scheduler.load_state_dict(data["scheduler"])
    rng = data["rng"]
    torch.set_rng_state(rng["torch"])
    name, keys, *rest = rng["numpy"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), *rest))
    random.setstate(rng["python"])
    return TrainState(**data["state"])


def fold_prefix(model, facts: ModelFacts, name: str) -> Prefix:
    """The trained prefix with the reparameterization MLP folded away: PEFT's saved `prompt_embeddings`, the
    flat (P, 2·L·H_kv·D) MLP output, split per layer into keys and values (L, H_kv, P, D) float32."""
    with torch.no_grad():
        flat = model.get_prompt_embedding_to_save(adapter_name=ADAPTER)  # (P, 2·L·H_kv·D)
    return prefix_from_flat(flat.float().numpy(), facts, name)


def save_peft_adapter(model, directory: Path) -> None:
    """Write a PEFT adapter directory that `PeftModel.from_pretrained` loads (PEFT stores the MLP's output, so the
    adapter holds exactly the folded prefix). An existing directory is replaced only once the new one is complete."""
    with atomic_dir(directory) as tmp:
        model.save_pretrained(tmp)
