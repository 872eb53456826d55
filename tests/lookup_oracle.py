"""A stand-in drafter for the prompt-lookup tests: tiny random models rarely copy their input, so the tests propose
plain decoding's own continuation instead (whole, or with one wrong token) and test the verifying, not the drafting."""

from __future__ import annotations

import numpy as np


def oracle(monkeypatch, module, prompt_len: int, truth: list[int], wrong_at: int | None = None) -> None:
    """Replace `module.find_draft`: propose `truth`'s next tokens, the one at index `wrong_at` of `truth` made wrong."""

    def draft(seq, k, earlier=()):
        start = len(seq) - prompt_len
        out = np.array(truth[start : start + k], np.int64)
        if wrong_at is not None and start <= wrong_at < start + len(out):
            out[wrong_at - start] = (out[wrong_at - start] + 1) % 50
        return out

    monkeypatch.setattr(module, "find_draft", draft)


def ban(token: int):
    """A logits processor that never lets `token` be chosen (a stand-in for a constraint or a bias)."""

    def processor(history, logits: np.ndarray) -> np.ndarray:
        out = logits.copy()
        out[token] = -np.inf
        return out

    return processor
