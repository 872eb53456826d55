"""Tiny random decoders and PEFT adapters for tests: built from a config with a fixed seed, no network."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "hello world, how are you today?",
    "prefix tuning learns a few key and value vectors per layer",
    "Once upon a time in a small village there lived a cat.",
    "Question: what is the capital of France? Answer: Paris.",
]
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant:{% endif %}"
)
# Larger than HF's default init (0.02) so that greedy decoding of a random model does not collapse into one token.
INIT_RANGE = 0.3


def tiny_tokenizer():
    """A byte-level BPE tokenizer (about 260 tokens) with <s> and </s> and a chat template."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 10, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_config(kind: str, vocab_size: int):
    from transformers import GPT2Config, LlamaConfig, MistralConfig, Qwen2Config

    common = dict(vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, initializer_range=INIT_RANGE)
    llama_like = dict(
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention
        max_position_embeddings=128,
        tie_word_embeddings=True,
        **common,
    )
    if kind == "gpt2":
        return GPT2Config(n_layer=2, n_embd=64, n_head=4, n_positions=128, tie_word_embeddings=True, **common)
    if kind == "llama":
        return LlamaConfig(**llama_like)
    if kind == "mistral":
        return MistralConfig(**{**llama_like, "tie_word_embeddings": False}, sliding_window=None)
    if kind == "qwen2":
        return Qwen2Config(**llama_like)
    raise ValueError(kind)


def make_tiny_model(kind: str, directory: Path, seed: int = 0) -> Path:
    """Save a tiny random model of family `kind` with the tiny tokenizer to `directory`; return it."""
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(kind, len(tok))).eval()
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def make_peft_adapter(model_dir: Path, directory: Path, P: int, projection: bool = False, seed: int = 1) -> Path:
    """Save a PEFT prefix-tuning adapter with random (non-zero) weights for the model in `model_dir`."""
    from peft import PrefixTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    config = PrefixTuningConfig(
        task_type="CAUSAL_LM", num_virtual_tokens=P, prefix_projection=projection, encoder_hidden_size=32
    )
    peft_model = get_peft_model(model, config)
    torch.manual_seed(seed)
    with torch.no_grad():
        for p in peft_model.prompt_encoder.parameters():
            p.normal_(0.0, 1.0)
    peft_model.save_pretrained(directory)
    return directory
