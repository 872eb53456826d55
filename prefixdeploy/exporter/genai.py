"""`genai_config.json`: lets ONNX Runtime GenAI load a baked single-prefix bundle as a plain decoder.

The graph adds the prefix itself, so GenAI generates *with* the prefix without knowing it exists. Its context is
what remains for real tokens after the prefix.
"""

from __future__ import annotations

import json
from pathlib import Path

from prefixdeploy.runtime import manifest as io_names  # the graph's input and output names
from prefixdeploy.runtime.manifest import Manifest

GENAI_CONFIG = "genai_config.json"
# GenAI's `type` picks its model class. These select its DecoderOnly_Model, as does the generic "decoder" that every
# other family gets: it reads our separate `past_key_values.{i}.key|value` (B, H_kv, S, D). The graph does the
# family's own math (sliding windows, soft-capping, multipliers), so GenAI needs no more than the type.
# GPT-2 must not be "gpt2": that selects GenAI's legacy Gpt_Model, whose combined cache wants one (2, B, H, S, D)
# input per layer named by `past_names`; on our graph it fails with "Model input was not found: ".
_GENAI_TYPES = {
    name: name for name in ("llama", "mistral", "qwen2", "qwen3", "phi3", "granite", "gemma2", "gemma3_text")
}


def write_genai_config(directory: Path, manifest: Manifest, model_file: str, prefix_length: int) -> None:
    """Write `genai_config.json` for the baked single-prefix graph `model_file` whose prefix has `prefix_length`."""
    m = manifest.model
    context = manifest.max_context - prefix_length
    eos = manifest.eos_token_ids
    config = {
        "model": {
            "bos_token_id": manifest.bos_token_id if manifest.bos_token_id is not None else manifest.pad_token_id,
            "context_length": context,
            "decoder": {
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "filename": model_file,
                "head_size": m.head_dim,
                "hidden_size": m.hidden_size,
                "inputs": {
                    "input_ids": io_names.INPUT_IDS,
                    "attention_mask": io_names.ATTENTION_MASK,
                    "position_ids": io_names.POSITION_IDS,
                    "past_key_names": io_names.PAST_KEY.replace("{}", "%d"),
                    "past_value_names": io_names.PAST_VALUE.replace("{}", "%d"),
                },
                "outputs": {
                    "logits": io_names.LOGITS,
                    "present_key_names": io_names.PRESENT_KEY.replace("{}", "%d"),
                    "present_value_names": io_names.PRESENT_VALUE.replace("{}", "%d"),
                },
                "num_attention_heads": manifest.num_attention_heads,
                "num_hidden_layers": m.num_layers,
                "num_key_value_heads": m.num_key_value_heads,
            },
            "eos_token_id": eos[0] if len(eos) == 1 else eos,
            "pad_token_id": manifest.pad_token_id,
            "type": _GENAI_TYPES.get(m.architecture, "decoder"),
            "vocab_size": manifest.vocab_size,
        },
        "search": {
            "do_sample": False,
            "early_stopping": True,
            "max_length": context,
            "min_length": 0,
            "num_beams": 1,
            "num_return_sequences": 1,
            "past_present_share_buffer": False,  # the portable graph concatenates; it has no shared buffer
            "repetition_penalty": 1.0,
            "temperature": 1.0,
            "top_k": 1,
            "top_p": 1.0,
        },
    }
    (directory / GENAI_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
