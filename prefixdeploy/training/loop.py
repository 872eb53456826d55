"""The training loop: prefix tuning (Li & Liang) of a frozen decoder with PEFT, from JSONL to a prefix file.

A prefix for every layer, reparameterized during training through PEFT's MLP (`prefix_projection`); the base
model stays frozen and in eval mode (no dropout), so a run is a deterministic function of its config and seed.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.prefix import Prefix, save_prefix
from prefixdeploy.training.checkpoint import (
    TrainState,
    check_checkpoint_dir,
    fold_prefix,
    restore_checkpoint,
    save_checkpoint,
    save_peft_adapter,
)
from prefixdeploy.training.config import TrainConfig
from prefixdeploy.training.data import (
    IGNORE,
    Example,
    collate,
    epoch_batches,
    load_examples,
    read_records,
    split_validation,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class TrainResult:
    prefix: Prefix
    output: Path
    steps: int
    train_loss: float  # mean target-token loss over the last evaluation interval
    initial_loss: float | None  # validation loss before training
    validation_loss: float | None  # of the saved (best) prefix
    seconds: float
    stopped_early: bool

    @property
    def perplexity(self) -> float | None:
        return None if self.validation_loss is None else math.exp(self.validation_loss)

    def summary(self) -> str:
        p = self.prefix
        done = f"{self.steps} steps in {self.seconds:.0f} s" + (" (stopped early)" if self.stopped_early else "")
        quality = (
            f"validation loss {self.initial_loss:.4f} -> {self.validation_loss:.4f}, perplexity {self.perplexity:.3f}"
            if self.validation_loss is not None
            else f"train loss {self.train_loss:.4f}"
        )
        return f"wrote {self.output}: prefix {p.name!r}, {p.num_virtual_tokens} virtual tokens, {done}; {quality}"


# Upstream deprecation notices that PEFT's own forward() triggers on every run; nothing the user can act on.
_UPSTREAM_NOISE = r".*(`past_key_values` is deprecated|`is_gradient_checkpointing` is deprecated)"


def train_prefix(config: TrainConfig, loaded=None) -> TrainResult:
    """Train a prefix on `config.data` and write it to `config.output` (and a PEFT adapter if asked)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_UPSTREAM_NOISE, category=FutureWarning)
        return _train_prefix(config, loaded)


def _train_prefix(config: TrainConfig, loaded) -> TrainResult:
    from prefixdeploy.models.load import load_model

    start = time.perf_counter()
    check_checkpoint_dir(config)
    records = read_records(config.data)  # bad JSONL fails before the slow model load
    val_records = read_records(config.validation) if config.validation else []
    loaded = loaded or load_model(config.model)
    facts = loaded.facts  # before PEFT wraps the model
    train, val = prepare_examples(config, loaded, records, val_records)

    model = build_peft_model(loaded.module, config)
    pad_id = _pad_id(loaded.tokenizer)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    optimizer, scheduler = make_optimizer(model, config, steps_per_epoch * config.epochs)
    state = restore_checkpoint(config, model, optimizer, scheduler) if config.resume else TrainState()
    log.info("training %d examples (%d validation), %d steps per epoch", len(train), len(val), steps_per_epoch)
    if val and not config.resume:
        state.initial_loss = evaluate(model, val, config.batch_size, pad_id)
        log.info("validation loss before training: %.4f", state.initial_loss)

    run_epochs(
        config, state, model=model, optimizer=optimizer, scheduler=scheduler, train=train, val=val, pad_id=pad_id
    )

    if state.best:  # early stopping keeps the prefix with the best validation loss
        model.prompt_encoder.load_state_dict(state.best)
    val_loss = evaluate(model, val, config.batch_size, pad_id) if val else None
    prefix = fold_prefix(model, facts, config.prefix_name)
    save_prefix(prefix, Path(config.output))
    if config.save_peft:
        save_peft_adapter(model, Path(config.save_peft))
    seconds = time.perf_counter() - start
    initial = state.initial_loss if val else None
    result = TrainResult(
        prefix=prefix,
        output=Path(config.output),
        steps=state.step,
        train_loss=state.train_loss,
        initial_loss=initial,
        validation_loss=val_loss,
        seconds=seconds,
        stopped_early=state.stopped,
    )
    log.info("%s", result.summary())
    return result


def prepare_examples(config: TrainConfig, loaded, records, val_records) -> tuple[list[Example], list[Example]]:
    """Tokenized (train, validation) examples; every record must fit `max_length` and the model's positions."""
    train = load_examples(records, loaded.tokenizer, config.max_length)
    val = load_examples(val_records, loaded.tokenizer, config.max_length) if val_records else []
    if config.validation_split:
        train, val = split_validation(train, config.validation_split, config.seed)
    _check_positions(loaded.module.config, config.num_virtual_tokens, max(map(len, train + val)))
    return train, val


def build_peft_model(base, config: TrainConfig):
    """Wrap the frozen base with PEFT prefix tuning; the prefix parameters start from `config.seed`."""
    from peft import PrefixTuningConfig, get_peft_model

    peft_config = PrefixTuningConfig(
        task_type="CAUSAL_LM",
        num_virtual_tokens=config.num_virtual_tokens,
        prefix_projection=config.prefix_projection,
        encoder_hidden_size=config.encoder_hidden_size,
    )
    torch.manual_seed(config.seed)
    model = get_peft_model(base, peft_config)
    model.eval()  # dropout off in the base; gradients still reach the prefix
    return model


def make_optimizer(model, config: TrainConfig, total_steps: int):
    """AdamW over the prefix parameters; linear warmup, then constant or linear decay to 0 at `total_steps`."""
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    warmup, decay = config.warmup_steps, config.lr_schedule == "linear"

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup)) if decay else 1.0

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def run_epochs(config, state: TrainState, *, model, optimizer, scheduler, train, val, pad_id: int) -> None:
    """Step through the remaining epochs from `state`, evaluating, checkpointing and stopping early as configured."""
    tokens, clock = 0, time.perf_counter()
    for epoch in range(state.epoch, config.epochs):
        if state.stopped:
            break
        batches = epoch_batches(len(train), config.batch_size, config.seed, epoch)
        desc = f"epoch {epoch + 1}/{config.epochs}"
        with tqdm(total=len(batches), initial=state.batch, desc=desc, unit="batch", disable=None) as bar:
            for i in range(state.batch, len(batches)):
                batch = collate([train[j] for j in batches[i]], pad_id)
                loss_sum, n = train_step(model, optimizer, scheduler, batch, config.max_grad_norm)
                state.step, state.batch = state.step + 1, i + 1
                state.loss_sum, state.loss_tokens = state.loss_sum + loss_sum, state.loss_tokens + n
                tokens += int(batch["attention_mask"].sum())
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / n:.4f}", tok_s=f"{tokens / (time.perf_counter() - clock):.0f}")
                if config.eval_steps and state.step % config.eval_steps == 0:
                    end_interval(
                        config, state, model=model, optimizer=optimizer, scheduler=scheduler, val=val, pad_id=pad_id
                    )
                    if state.stopped:
                        break
        if state.stopped:
            break
        state.epoch, state.batch = epoch + 1, 0
        if not (config.eval_steps and state.step % config.eval_steps == 0):  # not evaluated at this very step
            end_interval(config, state, model=model, optimizer=optimizer, scheduler=scheduler, val=val, pad_id=pad_id)
        elif config.checkpoint_dir:
            save_checkpoint(config, model, optimizer, scheduler, state)  # the epoch boundary itself


def end_interval(config, state: TrainState, *, model, optimizer, scheduler, val, pad_id: int) -> None:
    """An evaluation point: log the train loss, evaluate, update early stopping, write the checkpoint."""
    state.train_loss = state.loss_sum / max(1, state.loss_tokens)
    state.loss_sum, state.loss_tokens = 0.0, 0
    message = f"step {state.step}: train loss {state.train_loss:.4f}"
    if val:
        loss = evaluate(model, val, config.batch_size, pad_id)
        if loss < state.best_loss:
            state.best_loss, state.bad_evals = loss, 0
            state.best = {k: v.detach().clone() for k, v in model.prompt_encoder.state_dict().items()}
        else:
            state.bad_evals += 1
        state.stopped = bool(config.patience) and state.bad_evals >= config.patience
        message += f", validation loss {loss:.4f}" + (" (stopping early)" if state.stopped else "")
    log.info("%s", message)
    if config.checkpoint_dir:
        save_checkpoint(config, model, optimizer, scheduler, state)


def train_step(model, optimizer, scheduler, batch: dict, max_grad_norm: float) -> tuple[float, int]:
    """One optimizer step on the batch's mean target-token loss; returns (summed loss, target tokens)."""
    loss_sum, n = batch_loss(model, batch)
    (loss_sum / n).backward()
    if max_grad_norm:
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], max_grad_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss_sum.detach()), n


def batch_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the target tokens and their count. Uses PEFT's forward() (never generate())."""
    K = batch["keep"]  # left padding puts every target in the last K-1 positions
    out = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        logits_to_keep=K,
    )
    logits = out.logits[:, :-1].float()  # (B, K-1, V): position t predicts token t+1
    labels = batch["labels"][:, -(K - 1) :]  # (B, K-1)
    loss = torch.nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )
    return loss, int((labels != IGNORE).sum())


@torch.no_grad()
def evaluate(model, examples: list[Example], batch_size: int, pad_id: int) -> float:
    """Mean target-token cross-entropy (nats) over `examples`; exp() of it is the perplexity."""
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        loss, n = batch_loss(model, collate(examples[i : i + batch_size], pad_id))
        total, count = total + float(loss), count + n
    return total / count


def _pad_id(tokenizer) -> int:
    """Any id works (padding is masked); prefer the tokenizer's own pad, then EOS."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if candidate is not None:
            return int(candidate)
    return 0


def _check_positions(model_config, P: int, longest: int) -> None:
    """Real tokens sit at positions P..P+T-1, so P + the longest record must fit the model's position table."""
    limit = getattr(model_config, "max_position_embeddings", None) or getattr(model_config, "n_positions", None)
    if limit is not None and P + longest > limit:
        raise PrefixDeployError(
            f"num_virtual_tokens {P} + the longest record ({longest} tokens) exceeds the model's {limit} positions; "
            "shorten the records or the prefix",
            fields=("num_virtual_tokens",),
        )
