"""Training data: the token layout matches what the runtime encodes, batches are padded the runtime's way."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoTokenizer

from prefixdeploy.runtime.tokenizer import TextCodec
from prefixdeploy.training.config import TrainConfig
from prefixdeploy.training.data import (
    IGNORE,
    Record,
    TrainingDataError,
    collate,
    encode_record,
    epoch_batches,
    split_validation,
)
from prefixdeploy.training.loop import batch_loss, build_peft_model


@pytest.fixture(scope="module")
def tokenizer(tiny_model_dir):
    return AutoTokenizer.from_pretrained(tiny_model_dir("llama"))


def test_input_output_record_is_the_raw_input_then_the_output_then_eos(tokenizer, tiny_model_dir):
    ex = encode_record(Record("f:1", {"input": "hello world", "output": "how are you"}), tokenizer)
    codec = TextCodec(tiny_model_dir("llama") / "tokenizer.json", None)
    assert ex.prompt_ids == codec.encode("hello world")  # exactly what the runtime feeds for a plain prompt
    assert ex.target_ids == tokenizer("how are you", add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    assert tokenizer.decode(ex.target_ids[:-1]) == "how are you"  # nothing inserted before the output


def test_chat_record_matches_the_runtimes_chat_encoding(tokenizer, tiny_bundle):
    from prefixdeploy.runtime.bundle import load_bundle

    record = Record(
        "f:1", {"messages": [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "yes"}]}
    )
    ex = encode_record(record, tokenizer)
    with load_bundle(tiny_bundle("switchable")) as bundle:
        assert ex.prompt_ids == bundle.encode("hi there", chat=True)
    assert tokenizer.decode(ex.target_ids[:-1]) == " yes"  # the template writes "assistant: yes"
    assert ex.target_ids[-1] == tokenizer.eos_token_id  # this template has no end-of-turn token: EOS


def test_chat_record_ends_with_the_templates_end_of_turn_token(tokenizer):
    tok = tokenizer.__class__.from_pretrained(tokenizer.name_or_path)
    tok.add_special_tokens({"additional_special_tokens": ["<|end|>"]})
    tok.chat_template = (
        "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}<|end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
    )
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    ex = encode_record(Record("f:1", {"messages": [*messages, {"role": "assistant", "content": "ok"}]}), tok)
    prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert ex.prompt_ids == tok(prompt, add_special_tokens=False).input_ids
    assert ex.target_ids == tok("ok", add_special_tokens=False).input_ids + [tok.convert_tokens_to_ids("<|end|>")]


def test_empty_input_is_refused(tokenizer):
    with pytest.raises(TrainingDataError, match="f:3: the input encodes to no tokens"):
        encode_record(Record("f:3", {"input": "", "output": "x"}), tokenizer)


def test_left_padded_batch_loss_equals_the_per_record_losses(tokenizer, tiny_model_dir):
    """Left padding with explicit positions (P + t, as the runtime) must not change any record's loss."""
    from transformers import AutoModelForCausalLM

    texts = [("a", "b c d e"), ("the quick brown fox jumps", "over"), ("hello", "world")]
    examples = [encode_record(Record(f"f:{i}", {"input": a, "output": b}), tokenizer) for i, (a, b) in enumerate(texts)]
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir("llama")).eval()
    cfg = TrainConfig(model="m", data="d", output="o.safetensors", num_virtual_tokens=3, encoder_hidden_size=16)
    model = build_peft_model(base, cfg)
    with torch.no_grad():
        together, n = batch_loss(model, collate(examples, pad_id=0))
        alone = [batch_loss(model, collate([e], pad_id=0)) for e in examples]
    assert n == sum(k for _, k in alone) == sum(len(e.target_ids) for e in examples)
    torch.testing.assert_close(together, sum(loss for loss, _ in alone), atol=1e-4, rtol=1e-5)


def test_collate_layout(tokenizer):
    a = encode_record(Record("f:1", {"input": "hello world", "output": "yes"}), tokenizer)
    b = encode_record(Record("f:2", {"input": "a", "output": "how are you"}), tokenizer)
    batch = collate([a, b], pad_id=0)
    T = max(len(a), len(b))
    assert batch["input_ids"].shape == (2, T)
    assert batch["attention_mask"][1].tolist() == [0] * (T - len(b)) + [1] * len(b)
    assert batch["position_ids"][1, -len(b) :].tolist() == list(range(len(b)))  # PEFT adds P
    labels = batch["labels"][0]
    assert labels[-len(a.target_ids) :].tolist() == a.target_ids
    assert (labels[: -len(a.target_ids)] == IGNORE).all()
    assert batch["keep"] == max(len(a.target_ids), len(b.target_ids)) + 1


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert epoch_batches(10, 3, seed=1, epoch=2) == epoch_batches(10, 3, seed=1, epoch=2)
    assert epoch_batches(10, 3, seed=1, epoch=2) != epoch_batches(10, 3, seed=1, epoch=3)
    assert sorted(i for b in epoch_batches(10, 3, 0, 0) for i in b) == list(range(10))


def test_validation_split_is_seeded_and_disjoint(tokenizer):
    examples = [encode_record(Record(f"f:{i}", {"input": f"x{i}", "output": "y"}), tokenizer) for i in range(10)]
    train, val = split_validation(examples, 0.3, seed=4)
    assert len(val) == 3 and len(train) == 7
    assert {e.where for e in train}.isdisjoint(e.where for e in val)
    assert split_validation(examples, 0.3, seed=4)[1] == val
    with pytest.raises(TrainingDataError, match="leaves nothing to train on"):
        split_validation(examples[:1], 0.5, seed=0)
