"""`TrainConfig`: every option of `prefixdeploy train`, validated once. Imports no torch (the CLI may import it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError
from prefixdeploy.runtime.prefix import check_prefix_name

LR_SCHEDULES = ("constant", "linear")

# Fields that shape the training trajectory: a resumed run must agree with its checkpoint on all of them.
# `epochs` joins them under the linear schedule (its decay depends on the total number of steps).
TRAJECTORY_FIELDS = (
    "model",
    "data",
    "num_virtual_tokens",
    "prefix_projection",
    "encoder_hidden_size",
    "lr",
    "batch_size",
    "max_length",
    "seed",
    "validation",
    "validation_split",
    "eval_steps",
    "warmup_steps",
    "lr_schedule",
    "weight_decay",
    "max_grad_norm",
)


@dataclass(frozen=True)
class TrainConfig:
    model: str  # hub id, local directory or .gguf file; its weights stay frozen
    data: Path  # JSONL: {"input": ..., "output": ...} or {"messages": [...]} per line
    output: Path  # the prefix .safetensors to write (the MLP folded in)
    name: str | None = None  # task name stored in the prefix; default: the output's file stem
    num_virtual_tokens: int = 16  # P, the prefix length (the CLI's --prefix-length)
    prefix_projection: bool = True  # Li & Liang's reparameterization MLP during training (--no-projection: off)
    encoder_hidden_size: int = 512  # the MLP's hidden width (Li & Liang's mid_dim)
    lr: float = 5e-4  # prefix tuning with the MLP diverges on SmolLM2-135M at 5e-3 (see samples/RESULTS.md)
    epochs: int = 5
    batch_size: int = 8
    max_length: int = 256  # longest record (prompt + target tokens); longer ones are an error, never truncated
    seed: int = 0
    validation: Path | None = None  # a separate JSONL file for validation loss
    validation_split: float = 0.0  # or: hold out this fraction of `data` (0: none)
    patience: int = 0  # stop after this many evaluations without a better validation loss (0: never)
    eval_steps: int = 0  # evaluate (and checkpoint) every N optimizer steps; 0: at the end of each epoch
    warmup_steps: int = 0  # linear learning-rate warmup from 0
    lr_schedule: str = "constant"  # after warmup: "constant", or "linear" decay to 0 at the last step
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0  # gradient clipping; 0: off
    save_peft: Path | None = None  # also write a PEFT adapter directory here
    checkpoint_dir: Path | None = None  # write a resumable checkpoint here at every evaluation
    resume: bool = False  # continue from the checkpoint in checkpoint_dir

    def __post_init__(self):
        for name in ("num_virtual_tokens", "encoder_hidden_size", "epochs", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}", name)
        for name in ("patience", "eval_steps", "warmup_steps", "weight_decay", "max_grad_norm"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be ≥ 0, got {getattr(self, name)}", name)
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}", "lr")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ConfigError(
                f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {self.lr_schedule!r}", "lr_schedule"
            )
        if not 0.0 <= self.validation_split < 1.0:
            raise ConfigError(f"validation_split must be in [0, 1), got {self.validation_split}", "validation_split")
        if self.validation is not None and self.validation_split > 0:
            raise ConfigError(
                "give either validation FILE or validation_split FRACTION, not both", "validation", "validation_split"
            )
        if self.patience and not self.has_validation:
            # `validation` is left out of the fields: the CLI would spell "validation data" as "--validation data"
            raise ConfigError(
                "patience needs validation data: give a validation file or validation_split",
                "patience",
                "validation_split",
            )
        if self.resume and self.checkpoint_dir is None:
            raise ConfigError(
                "resume needs checkpoint_dir (the directory holding the checkpoint)", "resume", "checkpoint_dir"
            )
        if Path(self.output).suffix != ".safetensors":
            raise ConfigError(f"output must name a .safetensors file, got {self.output}", "output")
        check_prefix_name(self.prefix_name)

    @property
    def prefix_name(self) -> str:
        return self.name or Path(self.output).stem

    @property
    def has_validation(self) -> bool:
        return self.validation is not None or self.validation_split > 0

    def trajectory(self) -> dict:
        """The fields a checkpoint must share with a run that resumes it, as JSON-able values."""
        keys = TRAJECTORY_FIELDS + (("epochs",) if self.lr_schedule == "linear" else ())
        values = {k: getattr(self, k) for k in keys}
        return {k: str(v) if isinstance(v, Path) else v for k, v in values.items()}
