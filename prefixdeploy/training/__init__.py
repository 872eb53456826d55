"""Prefix tuning (Li & Liang) of a frozen decoder with PEFT: JSONL data -> a prefix `.safetensors` file.

`config` imports no torch (the CLI builds it); `data`, `loop` and `checkpoint` need the `train` extra (torch,
transformers, peft); `evaluate` scores prefixes through an exported bundle with the runtime (the samples use it).
"""
