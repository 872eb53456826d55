"""`prefixdeploy train` on tiny random models: it learns, the prefix it writes is PEFT's folded output, the PEFT
adapter it writes loads in PEFT and agrees with the prefix, and an interrupted run resumes to the identical prefix."""

from __future__ import annotations

import dataclasses
import json
import logging
import re

import numpy as np
import pytest
from reference import peft_greedy, peft_model
from safetensors.numpy import load_file

from prefixdeploy.exporter.reference import reference_greedy
from prefixdeploy.models.load import load_model
from prefixdeploy.runtime.prefix import load_prefix, prefix_to_flat
from prefixdeploy.training import loop
from prefixdeploy.training.checkpoint import CheckpointError
from prefixdeploy.training.config import TrainConfig
from prefixdeploy.training.loop import train_prefix

RECORDS = [
    {"input": "the quick brown fox", "output": "jumps"},
    {"input": "hello world", "output": "how are you"},
    {"input": "prefix tuning", "output": "learns keys"},
    {"input": "Question: capital of France?", "output": "Paris."},
    {"input": "once upon a time", "output": "a cat"},
    {"input": "the lazy dog", "output": "sleeps today"},
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "train.jsonl", RECORDS)


def config(model_dir, data, tmp_path, **overrides) -> TrainConfig:
    options = dict(
        model=str(model_dir),
        data=data,
        output=tmp_path / "task.safetensors",
        num_virtual_tokens=4,
        encoder_hidden_size=32,
        lr=1e-2,
        epochs=2,
        batch_size=4,
        max_length=32,
    )
    return TrainConfig(**{**options, **overrides})


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_training_reduces_the_loss_on_a_memorizable_set(kind, tiny_model_dir, data, tmp_path):
    cfg = config(tiny_model_dir(kind), data, tmp_path, num_virtual_tokens=8, encoder_hidden_size=64, lr=3e-2)
    result = train_prefix(dataclasses.replace(cfg, epochs=15, batch_size=2, validation=data))
    assert result.validation_loss < 0.5 * result.initial_loss, (result.initial_loss, result.validation_loss)
    assert result.steps == 15 * 3
    assert "perplexity" in result.summary()


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("projection", [True, False])
def test_saved_prefix_is_pefts_folded_output(kind, projection, tiny_model_dir, data, tmp_path):
    cfg = config(tiny_model_dir(kind), data, tmp_path, prefix_projection=projection, save_peft=tmp_path / "peft")
    result = train_prefix(cfg)
    prefix = load_prefix(cfg.output)
    assert prefix.name == "task" and prefix.num_virtual_tokens == 4
    assert prefix.model == load_model(str(tiny_model_dir(kind))).facts  # geometry and weights fingerprint
    saved = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))["prompt_embeddings"]  # (P, 2·L·D)
    np.testing.assert_array_equal(prefix_to_flat(prefix), saved)
    np.testing.assert_array_equal(prefix.key, result.prefix.key)
    adapter_config = json.loads((tmp_path / "peft" / "adapter_config.json").read_text())
    assert adapter_config["peft_type"] == "PREFIX_TUNING" and adapter_config["prefix_projection"] == projection


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_peft_adapter_round_trip_matches_the_prefix(kind, tiny_model_dir, data, tmp_path):
    """PEFT's PeftModel.from_pretrained loads the adapter; its forward() equals the prefix as the initial cache."""
    model_dir = tiny_model_dir(kind)
    cfg = config(model_dir, data, tmp_path, save_peft=tmp_path / "peft", epochs=3)
    train_prefix(cfg)
    base = peft_model(model_dir, None)
    prefix = load_prefix(cfg.output)
    prompt = [5, 17, 42, 8]
    tokens, logits = reference_greedy(base, prefix, prompt, 8)
    peft_tokens, peft_logits = peft_greedy(model_dir, tmp_path / "peft", prompt, 8)
    assert tokens == peft_tokens
    np.testing.assert_allclose(logits, peft_logits, atol=1e-4, rtol=0)
    _, bare_logits = reference_greedy(base, None, prompt, 1)
    assert not np.allclose(logits[0], bare_logits[0], atol=1e-2), "the trained prefix should change the logits"


def test_resumed_run_equals_an_uninterrupted_one(tiny_model_dir, data, tmp_path):
    """1 epoch, then resume to 2 epochs == 2 epochs straight: the same prefix, bit for bit."""
    model_dir = tiny_model_dir("llama")
    common = dict(validation_split=0.34, batch_size=2, patience=5)
    straight = config(model_dir, data, tmp_path / "a", epochs=2, checkpoint_dir=tmp_path / "a" / "ckpt", **common)
    train_prefix(straight)
    first = config(model_dir, data, tmp_path / "b", epochs=1, checkpoint_dir=tmp_path / "b" / "ckpt", **common)
    train_prefix(first)
    resumed = config(model_dir, data, tmp_path / "b", epochs=2, checkpoint_dir=tmp_path / "b" / "ckpt", resume=True)
    with pytest.raises(CheckpointError, match="differ from the checkpoint's: .*validation_split"):
        train_prefix(resumed)  # the held-out split is part of the trajectory
    resumed = config(
        model_dir, data, tmp_path / "b", epochs=2, checkpoint_dir=tmp_path / "b" / "ckpt", resume=True, **common
    )
    result = train_prefix(resumed)
    assert result.steps == 4
    a, b = load_prefix(straight.output), load_prefix(resumed.output)
    np.testing.assert_array_equal(a.key, b.key)
    np.testing.assert_array_equal(a.value, b.value)


def test_run_interrupted_mid_epoch_resumes_from_its_last_checkpoint(tiny_model_dir, data, tmp_path, monkeypatch):
    model_dir = tiny_model_dir("gpt2")
    common = dict(epochs=3, batch_size=2, eval_steps=2, lr_schedule="linear", warmup_steps=2)
    straight = config(model_dir, data, tmp_path / "a", **common)
    train_prefix(straight)

    real_step, calls = loop.train_step, []

    def crashing_step(*args):
        calls.append(1)
        if len(calls) == 6:  # killed during step 6; the last checkpoint is from step 4
            raise KeyboardInterrupt
        return real_step(*args)

    ckpt = tmp_path / "b" / "ckpt"
    monkeypatch.setattr(loop, "train_step", crashing_step)
    with pytest.raises(KeyboardInterrupt):
        train_prefix(config(model_dir, data, tmp_path / "b", checkpoint_dir=ckpt, **common))
    monkeypatch.setattr(loop, "train_step", real_step)
    resumed = config(model_dir, data, tmp_path / "b", checkpoint_dir=ckpt, resume=True, **common)
    assert train_prefix(resumed).steps == 9
    np.testing.assert_array_equal(load_prefix(straight.output).key, load_prefix(resumed.output).key)


def test_linear_schedule_refuses_to_resume_with_other_epochs(tiny_model_dir, data, tmp_path):
    model_dir, ckpt = tiny_model_dir("llama"), tmp_path / "ckpt"
    train_prefix(config(model_dir, data, tmp_path, epochs=1, lr_schedule="linear", checkpoint_dir=ckpt))
    with pytest.raises(CheckpointError, match=r"epochs: 1 -> 2"):
        train_prefix(
            config(model_dir, data, tmp_path, epochs=2, lr_schedule="linear", checkpoint_dir=ckpt, resume=True)
        )


def test_checkpoint_dir_guards(tiny_model_dir, data, tmp_path):
    model_dir, ckpt = tiny_model_dir("llama"), tmp_path / "ckpt"
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        train_prefix(config(model_dir, data, tmp_path, checkpoint_dir=ckpt, resume=True))
    train_prefix(config(model_dir, data, tmp_path, epochs=1, checkpoint_dir=ckpt))
    with pytest.raises(
        CheckpointError, match="already holds a checkpoint; pass resume to continue it or choose another checkpoint_dir"
    ):
        train_prefix(config(model_dir, data, tmp_path, epochs=1, checkpoint_dir=ckpt))


def test_early_stopping_keeps_the_best_prefix(tiny_model_dir, data, tmp_path, caplog):
    """With a huge learning rate the validation loss gets worse: training stops early, and the prefix saved is the
    one with the best validation loss seen."""
    cfg = config(tiny_model_dir("llama"), data, tmp_path, epochs=20, lr=3.0, validation=data, patience=2)
    with caplog.at_level(logging.INFO, logger="prefixdeploy.training.loop"):
        result = train_prefix(cfg)
    assert result.stopped_early and result.steps < 20 * 2
    seen = [float(m) for m in re.findall(r"validation loss (\d+\.\d+)", caplog.text.split("wrote")[0])]
    assert len(seen) >= 3
    assert result.validation_loss == pytest.approx(min(seen[1:]), abs=1e-4)  # seen[0]: before training
