"""One choice's text as its tokens arrive: UTF-8-safe incremental decoding and stop strings, off the engine thread.

Text that could still be the start of a stop string is held back until it cannot (or the choice ends), so a stop
string is never streamed; the stop text itself is never returned (OpenAI's rule).
"""

from __future__ import annotations

from tokenizers import Tokenizer
from tokenizers.decoders import DecodeStream


class ChoiceText:
    def __init__(self, tokenizer: Tokenizer, stop: list[str]):
        self.tokenizer, self.stop = tokenizer, stop
        self._decoder = DecodeStream(skip_special_tokens=True)  # never splits a UTF-8 character
        self._held = ""  # decoded but not yet released
        self._ids: list[int] = []
        self._decoded = 0  # characters decoded so far (released or held)
        self.stopped = False  # a stop string matched: the choice is over

    def add(self, token_id: int) -> str:
        """Decode one more token; return the text that is now safe to release (possibly empty)."""
        if self.stopped:
            return ""
        self._ids.append(token_id)
        piece = self._decoder.step(self.tokenizer, token_id) or ""
        self._decoded += len(piece)
        self._held += piece
        if not self.stop:
            return self._release(len(self._held))
        hit = min((i for s in self.stop if (i := self._held.find(s)) >= 0), default=-1)
        if hit >= 0:
            self.stopped = True
            released, self._held = self._held[:hit], ""
            return released
        return self._release(len(self._held) - self._stop_start_length())

    def flush(self) -> str:
        """The held-back text once the choice has ended without a stop string.

        The stream decoder keeps an unfinished UTF-8 sequence back; at the end, the whole decode (which renders it
        as U+FFFD) supplies that tail, so the text always equals `tokenizer.decode(all ids)`.
        """
        if not self.stopped and self._ids:
            self._held += self.tokenizer.decode(self._ids, skip_special_tokens=True)[self._decoded :]
            self._decoded = 0
            self._ids = []
        return self._release(len(self._held))

    def _release(self, n: int) -> str:
        out, self._held = self._held[:n], self._held[n:]
        return out

    def _stop_start_length(self) -> int:
        """Length of the longest end of the held text that begins some stop string."""
        longest = 0
        for s in self.stop:
            for k in range(min(len(s) - 1, len(self._held)), longest, -1):
                if self._held.endswith(s[:k]):
                    longest = k
                    break
        return longest
