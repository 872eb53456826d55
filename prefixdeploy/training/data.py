"""Training data: JSONL records -> token ids (prompt, target) -> left-padded batches, with clear errors per line.

Two record kinds, one per line:
- `{"input": TEXT, "output": TEXT}`: the prompt is the raw input alone (the prefix replaces any instruction),
  encoded exactly as the runtime encodes a plain prompt: `tokenizer(input).input_ids` (special tokens added as
  the tokenizer's post-processor adds them). The target is `tokenizer(output, add_special_tokens=False)` + [EOS],
  with *nothing* inserted between input and output (no space, no newline): at inference the prompt is encoded
  alone and the model's new tokens, decoded, are the output text itself.
- `{"messages": [...]}` (chat): the prompt is the chat template applied to all but the last message, which must
  be the assistant's, with `add_generation_prompt=True` (the runtime's `--chat` encoding for one user message);
  the target is that message's content followed by the template's end-of-turn token (EOS if it has none).

The loss covers the target tokens only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefixdeploy.errors import PrefixDeployError

IGNORE = -100  # label of positions without loss (PyTorch's cross_entropy ignore_index)


class TrainingDataError(PrefixDeployError):
    """A training or validation file cannot be used: unreadable, bad JSON, wrong fields, empty, too long."""


@dataclass(frozen=True)
class Record:
    where: str  # "FILE:LINE", for messages
    data: dict


@dataclass(frozen=True)
class Example:
    where: str  # "FILE:LINE"
    prompt_ids: list[int]
    target_ids: list[int]  # ends with EOS / end-of-turn

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.target_ids)


def read_records(path: str | Path) -> list[Record]:
    """Parse and check a JSONL file (blank lines skipped); errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise TrainingDataError(f"data file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise TrainingDataError(f"cannot read data file {path}: {e}") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as e:
            raise TrainingDataError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
        _check_record(data, where)
        records.append(Record(where, data))
    if not records:
        raise TrainingDataError(f"data file {path} holds no records; expected one JSON object per line")
    return records


def _check_record(data, where: str) -> None:
    expected = 'expected {"input": "...", "output": "..."} or {"messages": [...]}'
    if not isinstance(data, dict):
        raise TrainingDataError(f"{where}: {expected}, found a JSON {type(data).__name__}")
    if "messages" in data:
        messages = data["messages"]
        ok = isinstance(messages, list) and all(
            isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
            for m in messages
        )
        if not ok or len(messages) < 2:
            raise TrainingDataError(f"{where}: 'messages' must be a list of ≥ 2 {{'role': str, 'content': str}}")
        if messages[-1]["role"] != "assistant":
            raise TrainingDataError(f"{where}: the last message must be the assistant's (the target)")
        return
    for key in ("input", "output"):
        if not isinstance(data.get(key), str):
            raise TrainingDataError(f"{where}: {expected}; {key!r} is missing or not a string")


def encode_record(record: Record, tokenizer) -> Example:
    """Token ids of one record; see the module docstring for the exact encoding."""
    data = record.data
    if "messages" in data:
        prompt_ids, target_ids = _encode_chat(data["messages"], tokenizer, record.where)
    else:
        prompt_ids = list(tokenizer(data["input"]).input_ids)
        target_ids = list(tokenizer(data["output"], add_special_tokens=False).input_ids) + [_eos_id(tokenizer)]
    if not prompt_ids:
        raise TrainingDataError(f"{record.where}: the input encodes to no tokens; give every record some input text")
    return Example(record.where, prompt_ids, target_ids)


def _encode_chat(messages: list[dict], tokenizer, where: str) -> tuple[list[int], list[int]]:
    if not getattr(tokenizer, "chat_template", None):
        raise TrainingDataError("the model's tokenizer has no chat template; use input/output records instead")
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    content = messages[-1]["content"]
    at = full.find(content, len(prompt)) if full.startswith(prompt) else -1
    if at < 0:
        raise TrainingDataError(
            f"{where}: the chat template does not render the conversation as prompt + reply; use input/output records"
        )
    target_ids = list(tokenizer(full[len(prompt) : at + len(content)], add_special_tokens=False).input_ids)
    tail = tokenizer(full[at + len(content) :], add_special_tokens=False).input_ids
    special = set(tokenizer.all_special_ids)
    end = next((t for t in tail if t in special), _eos_id(tokenizer))  # e.g. <|im_end|>, <|eot_id|>
    prompt_ids = list(tokenizer(prompt, add_special_tokens=False).input_ids)
    return prompt_ids, target_ids + [end]


def _eos_id(tokenizer) -> int:
    if tokenizer.eos_token_id is None:
        raise TrainingDataError("the model's tokenizer has no EOS token to end the targets with")
    return int(tokenizer.eos_token_id)


def load_examples(records: list[Record], tokenizer, max_length: int) -> list[Example]:
    """Encode records; a record longer than `max_length` tokens is an error (never silently truncated)."""
    examples = [encode_record(r, tokenizer) for r in records]
    for ex in examples:
        if len(ex) > max_length:
            raise TrainingDataError(
                f"{ex.where}: the record is {len(ex)} tokens (input {len(ex.prompt_ids)} + output "
                f"{len(ex.target_ids)}), longer than max_length {max_length}; raise max_length or shorten it",
                fields=("max_length",),
            )
    return examples


def split_validation(examples: list[Example], fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `fraction` of the examples (at least one), chosen by `seed`: (train, validation)."""
    if fraction <= 0:
        return examples, []
    n = max(1, round(len(examples) * fraction))
    if n >= len(examples):
        raise TrainingDataError(
            f"validation_split {fraction} of {len(examples)} records leaves nothing to train on; use a smaller one",
            fields=("validation_split",),
        )
    order = np.random.default_rng(seed).permutation(len(examples))
    held = set(order[:n].tolist())
    return [e for i, e in enumerate(examples) if i not in held], [e for i, e in enumerate(examples) if i in held]


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices of each batch of one epoch, shuffled by (seed, epoch) alone, so a resumed run sees the same order."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    return [order[i : i + batch_size].tolist() for i in range(0, n, batch_size)]


def collate(examples: list[Example], pad_id: int) -> dict:
    """Left-padded tensors for one batch, laid out as the runtime feeds prompts (real token t at position P + t).

    Returns input_ids, attention_mask, position_ids (B, T) int64, labels (B, T) int64 (IGNORE off the targets),
    and logits_to_keep: the targets all end at T-1 after left padding, so only the last few logits are needed.
    """
    import torch

    T = max(len(e) for e in examples)
    B = len(examples)
    ids = torch.full((B, T), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((B, T), dtype=torch.long)  # (B, T)
    labels = torch.full((B, T), IGNORE, dtype=torch.long)  # (B, T)
    for r, e in enumerate(examples):
        tokens = e.prompt_ids + e.target_ids
        ids[r, T - len(tokens) :] = torch.tensor(tokens)
        mask[r, T - len(tokens) :] = 1
        labels[r, T - len(e.target_ids) :] = torch.tensor(e.target_ids)
    # Real token t gets position t here; PEFT's forward adds P (its `_adjust_prompt_learning_kwargs`).
    positions = (mask.cumsum(1) - 1).clamp(min=0)  # (B, T)
    keep = max(len(e.target_ids) for e in examples) + 1
    return {"input_ids": ids, "attention_mask": mask, "position_ids": positions, "labels": labels, "keep": keep}


def write_splits(out: Path, splits: dict[str, list[dict]]) -> list[str]:
    """Write each split's records to `out/<split>.jsonl`, one JSON object per line; returns one line per file."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, records in splits.items():
        with (out / f"{name}.jsonl").open("w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        written.append(f"wrote {out / f'{name}.jsonl'}: {len(records)} records")
    return written
