"""Tiny random decoders and PEFT adapters for tests: built from a config with a fixed seed, no network."""

from __future__ import annotations

import json
import shutil
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
FAMILIES = ("gpt2", "llama", "mistral", "qwen2")  # every runtime and serving test runs these


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

    if kind in NEW_FAMILY_CONFIGS:
        return NEW_FAMILY_CONFIGS[kind](vocab_size)

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


def _llama_like(vocab_size: int, **overrides) -> dict:
    common = dict(
        vocab_size=vocab_size,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
        initializer_range=INIT_RANGE,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        tie_word_embeddings=True,
    )
    return {**common, **overrides}


def _qwen3(vocab_size: int):
    from transformers import Qwen3Config

    return Qwen3Config(**_llama_like(vocab_size, head_dim=32))  # head_dim ≠ hidden/heads, as in Qwen3-0.6B


def _llama3(vocab_size: int):
    """Llama 3.2 1B/3B in small: the llama3 rope type (frequency-dependent scaling) and tied embeddings."""
    from transformers import LlamaConfig

    rope = dict(
        rope_type="llama3",
        rope_theta=500000.0,
        factor=8.0,
        low_freq_factor=1.0,
        high_freq_factor=4.0,
        original_max_position_embeddings=64,  # small, so that the scaling reaches several of 8 frequencies
    )
    return LlamaConfig(**_llama_like(vocab_size, rope_parameters=rope))


# Gemma ties its embeddings; tied, a random tiny Gemma repeats one token whatever the prefix (the √hidden-scaled
# embedding of the last token dominates its own logit). The tied lm_head is the other families' path.
GEMMA_UNTIED = {"tie_word_embeddings": False}


def _gemma3(vocab_size: int):
    """Gemma 3 text in small: a sliding layer (window 6, its own rotary base) then a global one (linear rope)."""
    from transformers import Gemma3TextConfig

    rope = {
        "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1_000_000.0},
        "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0},
    }
    layers = ["sliding_attention", "full_attention"]
    extra = dict(head_dim=32, query_pre_attn_scalar=32, sliding_window=6, layer_types=layers, rope_parameters=rope)
    return Gemma3TextConfig(**_llama_like(vocab_size, **extra, **GEMMA_UNTIED))


def _gemma2(vocab_size: int):
    from transformers import Gemma2Config

    layers = ["sliding_attention", "full_attention"]
    extra = dict(head_dim=32, query_pre_attn_scalar=32, sliding_window=6, layer_types=layers)
    # Soft-capping values small enough to bite on random weights (Gemma 2 2B: 50 and 30).
    caps = dict(attn_logit_softcapping=5.0, final_logit_softcapping=3.0)
    return Gemma2Config(**_llama_like(vocab_size, **extra, **caps, **GEMMA_UNTIED))


def _phi3(vocab_size: int):
    """Phi-4-mini in small: fused projections, partial rotary, LongRoPE, tied embeddings, grouped-query attention.

    Heads of 32 with partial_rotary_factor 0.5 (Phi-4-mini: 128 × 0.75): 16 rotary dims, the fewest ONNX Runtime's
    GroupQueryAttention rotates. Intermediate 96: other shapes tried (one head of 64 at 0.75, intermediate 128) reach
    EOS on test_genai's prompts, which GenAI cannot ignore, or drift 0.2–0.5 of a prefix gap at int8 on random weights.
    """
    from transformers import Phi3Config

    rotary_half = int(32 * 0.5) // 2
    rope = dict(
        rope_type="longrope",
        rope_theta=10000.0,
        partial_rotary_factor=0.5,
        short_factor=[1.0 + 0.1 * i for i in range(rotary_half)],
        long_factor=[2.0 + 0.5 * i for i in range(rotary_half)],
        original_max_position_embeddings=96,  # the bundle's context: LongRoPE is exact up to here
    )
    shape = dict(num_attention_heads=2, num_key_value_heads=1, intermediate_size=96)
    return Phi3Config(**_llama_like(vocab_size, **shape, rope_parameters=rope, original_max_position_embeddings=96))


def _granite(vocab_size: int):
    """Granite 3.x's four multipliers. Not the 2B model's (12, 1/64, 0.22, 8): on random weights those collapse
    greedy decoding into one repeated token that no prefix changes."""
    from transformers import GraniteConfig

    multipliers = dict(embedding_multiplier=2.0, attention_multiplier=0.2, residual_multiplier=0.7)
    return GraniteConfig(**_llama_like(vocab_size, **multipliers, logits_scaling=2.0))


# Families added after the first four (issue 22): tested for parity, export, GenAI and the TensorRT lint
# (tests/exporter/test_families.py among others), not in every serving and runtime test (those run FAMILIES).
NEW_FAMILY_CONFIGS = {
    "qwen3": _qwen3,
    "llama3": _llama3,
    "gemma3_text": _gemma3,
    "gemma2": _gemma2,
    "phi3": _phi3,
    "granite": _granite,
}
NEW_FAMILIES = tuple(NEW_FAMILY_CONFIGS)  # ("qwen3", "llama3", "gemma3_text", "gemma2", "phi3", "granite")


def make_tiny_model(kind: str, directory: Path, seed: int = 0) -> Path:
    """Save a tiny random model of family `kind` with the tiny tokenizer to `directory`; return it."""
    from transformers import AutoModelForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(kind, len(tok))).eval()
    if kind in NEW_FAMILY_CONFIGS:  # norms start at 1 (or 0 for Gemma's 1 + w): random scales test them
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "norm" in name:
                    param.add_(0.2 * torch.randn_like(param))
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def with_config(model_dir: Path, directory: Path, **changes) -> Path:
    """A copy of a saved model with config.json fields changed."""
    copy = shutil.copytree(model_dir, directory)
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, **changes}))
    return copy


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
