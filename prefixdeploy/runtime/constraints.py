"""Structured outputs: a JSON schema, a regex, a choice or a grammar, followed by each row as a logits processor.
Must not import torch.

The grammar engine is llguidance (the `structured` extra, imported only when a constraint is compiled): chosen over
xgrammar by measurement (docs/structured.md: both mask a token of SmolLM2's 49k vocabulary in well under 0.1 ms,
but xgrammar requires and imports torch, transformers and triton, which the runtime must not). We never write a
JSON-schema automaton of our own.

A `Constraint` is plain data (what the user asked for, and the field it came from, which errors name).
`Grammars` compiles it for one tokenizer, within size and complexity limits, and caches the result; a compiled
constraint makes a fresh `GrammarProcessor` per row. The processor masks every token the grammar does not allow at
this point, EOS included until the grammar is complete; it derives its state from the row's history alone (it
rolls its matcher back and forward to match it), so prompt lookup's verify, which asks about hypothetical histories,
gets exact answers.

Shape letters: V vocab, W = ceil(V / 32) mask words.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from prefixdeploy.errors import ConfigError, PrefixDeployError

log = logging.getLogger(__name__)

MAX_SOURCE_CHARS = 32_768  # a schema (as JSON text), regex, choice list or grammar larger than this is refused
MAX_CHOICES = 256
CACHE_SIZE = 64  # compiled constraints kept per tokenizer (least recently used dropped first)
# llguidance's own bounds on the work a grammar may cost (its documented speeds: lexer fuel ~50k/ms at build and
# ~14k/ms per token, Earley items ~20k/ms): ~20 ms to build the lexer, ~4 ms of lexer and ~2.5 ms of parser work
# per token at most, 50k grammar symbols. A grammar past them is refused when compiled, or ends its row (EOS).
LIMITS = {
    "initial_lexer_fuel": 1_000_000,
    "step_lexer_fuel": 50_000,
    "step_max_items": 50_000,
    "max_grammar_size": 50_000,
}
# JSON whitespace between tokens as llama.cpp's schema converter allows it: none, one space, or one or two newlines
# and up to 20 spaces or tabs of indentation (compact, `{"a": 1, "b": 2}` and pretty-printed output all pass; a
# small model cannot loop on whitespace). A schema may change it with llguidance's own "x-guidance" key.
JSON_OPTIONS = {"whitespace_pattern": r"(?: |\n{1,2}[ \t]{0,20})?"}
INSTALL_HINT = "structured outputs need llguidance: pip install 'prefixdeploy[structured]'"


class ConstraintKind(str, Enum):
    JSON_SCHEMA = "json_schema"  # source: the schema as JSON text
    JSON_OBJECT = "json_object"  # any JSON object (source ignored)
    REGEX = "regex"  # source: a regular expression (Rust `regex` syntax), matched by the whole output
    CHOICE = "choice"  # source: a JSON list of strings; the output is exactly one of them
    GRAMMAR = "grammar"  # source: a Lark grammar (llguidance's dialect) or a GBNF one (llama.cpp's, with `::=`)


@dataclass(frozen=True)
class Constraint:
    """What one row's output must match. `field` is the name errors use (a request field, a config field)."""

    kind: ConstraintKind
    source: str = ""
    field: str = "constraint"

    def __post_init__(self):
        if not isinstance(self.kind, ConstraintKind):
            kinds = ", ".join(k.value for k in ConstraintKind)
            raise ConfigError(f"{self.field}: unknown constraint kind {self.kind!r}; one of {kinds}", self.field)
        if not isinstance(self.source, str):
            raise ConfigError(f"{self.field}: the constraint's source must be text", self.field)
        if len(self.source) > MAX_SOURCE_CHARS:
            raise ConfigError(
                f"{self.field}: the {self.kind.value} is {len(self.source)} characters; the limit is "
                f"{MAX_SOURCE_CHARS}",
                self.field,
            )

    @classmethod
    def json_schema(cls, schema: dict | str, field: str = "json_schema") -> Constraint:
        if isinstance(schema, str):
            try:
                schema = json.loads(schema)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{field}: the JSON schema is not valid JSON: {e}", field) from None
        if not isinstance(schema, dict):
            raise ConfigError(f"{field}: a JSON schema is an object, got {type(schema).__name__}", field)
        # not sort_keys: properties are generated in the schema's order
        return cls(ConstraintKind.JSON_SCHEMA, json.dumps(schema, ensure_ascii=False), field)

    @classmethod
    def json_object(cls, field: str = "json_object") -> Constraint:
        return cls(ConstraintKind.JSON_OBJECT, "", field)

    @classmethod
    def regex(cls, pattern: str, field: str = "regex") -> Constraint:
        if not isinstance(pattern, str) or not pattern:
            raise ConfigError(f"{field}: give a non-empty regular expression", field)
        return cls(ConstraintKind.REGEX, pattern, field)

    @classmethod
    def choice(cls, choices: Sequence[str], field: str = "choice") -> Constraint:
        if isinstance(choices, str) or not choices or not all(isinstance(c, str) and c for c in choices):
            raise ConfigError(f"{field}: give a list of non-empty strings", field)
        if len(choices) > MAX_CHOICES:
            raise ConfigError(f"{field}: {len(choices)} choices; the limit is {MAX_CHOICES}", field)
        return cls(ConstraintKind.CHOICE, json.dumps(list(choices), ensure_ascii=False), field)

    @classmethod
    def grammar(cls, text: str, field: str = "grammar") -> Constraint:
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{field}: give a non-empty grammar (Lark, or GBNF with ::=)", field)
        return cls(ConstraintKind.GRAMMAR, text, field)


class Grammars:
    """Compiles constraints for one tokenizer (llguidance's token trie, built on first use: ~0.4 s at 49k tokens)
    and caches them; thread-safe (the server compiles on worker threads, rows are made on others)."""

    def __init__(self, tokenizer, vocab_size: int, eos_token_ids: Sequence[int]):
        """tokenizer: a `tokenizers.Tokenizer`; vocab_size: the model's (its logits' V, ≥ the tokenizer's)."""
        self.vocab_size, self.eos = vocab_size, list(eos_token_ids)
        self._hf_tokenizer = tokenizer
        self._tokenizer = None  # llguidance's, made on the first compile
        self._compiled: OrderedDict[tuple[ConstraintKind, str], CompiledConstraint] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, constraint: Constraint) -> CompiledConstraint:
        """The constraint checked and compiled (cached: the same constraint again costs a dict lookup).

        Raises ConfigError naming `constraint.field` for an invalid schema, an unsupported keyword, a regex or a
        grammar that does not compile, or one past the limits; PrefixDeployError when llguidance is missing."""
        key = (constraint.kind, constraint.source)
        with self._lock:
            if key in self._compiled:
                self._compiled.move_to_end(key)
                return self._compiled[key]
        compiled = self._compile(constraint)  # outside the lock: llguidance releases the GIL while it builds
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def _compile(self, constraint: Constraint) -> CompiledConstraint:
        llg = _llguidance()
        tokenizer, limits = self._llg_tokenizer(), llg.LLParserLimits(**LIMITS)
        try:
            grammar = _grammar_text(llg, constraint)
        except ValueError as e:
            raise ConfigError(f"{constraint.field}: {_reason(e)}", constraint.field) from None
        error = llg.LLMatcher.validate_grammar(grammar, tokenizer, limits=limits)
        if error:
            raise ConfigError(f"{constraint.field}: {_reason(error)}", constraint.field)
        matcher = llg.LLMatcher(tokenizer, grammar, log_level=0, limits=limits)
        first = matcher.deep_copy()
        first.compute_bitmask()  # the first mask, within the per-token limits: a grammar past them fails here
        if first.is_error():
            raise ConfigError(f"{constraint.field}: {_reason(first.get_error())}", constraint.field)
        return CompiledConstraint(constraint, matcher, self.vocab_size, self.eos)

    def _llg_tokenizer(self):
        with self._lock:
            if self._tokenizer is None:
                llg = _llguidance()
                self._tokenizer = llg.LLTokenizer(
                    self._hf_tokenizer.to_str(), n_vocab=self.vocab_size, eos_token=self.eos
                )
            return self._tokenizer


class CompiledConstraint:
    """A compiled constraint: makes one fresh processor per row (a copy of a matcher at the grammar's start)."""

    def __init__(self, constraint: Constraint, matcher, vocab_size: int, eos: list[int]):
        self.constraint, self._matcher, self.vocab_size, self.eos = constraint, matcher, vocab_size, eos

    def processor(self) -> GrammarProcessor:
        return GrammarProcessor(self._matcher.deep_copy(), self.vocab_size, self.eos)


class GrammarProcessor:
    """One row's constraint as a `sampling.LogitsProcessor`: scores of tokens the grammar forbids become -inf."""

    def __init__(self, matcher, vocab_size: int, eos: list[int]):
        self.matcher, self.vocab_size, self.eos = matcher, vocab_size, eos
        self.consumed: list[int] = []  # the tokens the matcher has taken, in order
        self.past_end = False  # the history has an EOS
        self._eos = set(eos)
        self._words = np.zeros((1, -(-vocab_size // 32)), np.int32)  # (1, W) llguidance's bitmask
        self._out = np.empty(vocab_size, np.float32)  # (V,) the scores returned (a fresh array costs page faults)
        self._warned = False

    def __call__(self, history: Sequence[int], logits: np.ndarray) -> np.ndarray:  # (V,) -> (V,)
        self.follow(history)
        out = self._out  # (V,) reused: choose_tokens consumes a processor's output before the row's next call
        out.fill(-np.inf)
        np.copyto(out, logits, where=self.mask())  # with the reuse, 5× quicker than np.where at V = 49,152
        return out

    def follow(self, history: Sequence[int]) -> None:
        """Bring the matcher to `history`: roll back past the first difference, then take the rest. An EOS ends the
        grammar: the matcher never takes it (nor what a row told to ignore EOS generates after it)."""
        history = list(history)
        end = next((i for i, token in enumerate(history) if token in self._eos), len(history))
        self.past_end = end < len(history)
        target, k = history[:end], len(self.consumed)
        same = k if target[:k] == self.consumed else _common_length(target, self.consumed)
        if same < k:
            if not self.matcher.rollback(k - same):  # past what it keeps: start over
                self.matcher.reset()
                same = 0
            del self.consumed[same:]
        for token in target[same:]:
            self.matcher.consume_token(token)  # a token the mask allowed; an error state is handled by mask()
            self.consumed.append(token)

    def mask(self) -> np.ndarray:
        """(V,) bool: the tokens allowed next. Past the end, or after an error (a limit reached), only EOS."""
        if self.past_end or self.matcher.is_error():
            if self.matcher.is_error() and not self._warned:
                log.warning("a constrained row stops early: %s", _reason(self.matcher.get_error()))
                self._warned = True
            allowed = np.zeros(self.vocab_size, bool)
            allowed[self.eos] = True
            return allowed
        self.matcher.unsafe_compute_mask_ptr(self._words.ctypes.data, self._words.nbytes)
        return np.unpackbits(self._words.view(np.uint8), count=self.vocab_size, bitorder="little").view(bool)


def _grammar_text(llg, constraint: Constraint) -> str:
    """llguidance's grammar for the constraint (raises ValueError for input it cannot read)."""
    kind, source = constraint.kind, constraint.source
    if kind == ConstraintKind.JSON_SCHEMA:
        return llg.LLMatcher.grammar_from_json_schema(source, defaults=JSON_OPTIONS)
    if kind == ConstraintKind.JSON_OBJECT:
        return llg.LLMatcher.grammar_from_json_schema('{"type": "object"}', defaults=JSON_OPTIONS)
    if kind == ConstraintKind.REGEX:
        return llg.LLMatcher.grammar_from_regex(source)
    if kind == ConstraintKind.CHOICE:
        return llg.grammar_from("choice", source)
    if kind == ConstraintKind.GRAMMAR:
        return llg.grammar_from("grammar", source)  # Lark as it is; GBNF (`::=`) converted to Lark
    raise AssertionError(kind)  # a closed set: Constraint checked the kind


def _llguidance():
    try:
        import llguidance
    except ImportError:
        raise PrefixDeployError(INSTALL_HINT) from None
    return llguidance


def _common_length(a: list[int], b: list[int]) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def _reason(error, limit: int = 300) -> str:
    """llguidance's message on one line: its lines joined, the source excerpt and caret lines (`1 | …`, `^`) left
    out, at most `limit` characters."""
    lines = [line.strip() for line in str(error).splitlines()]
    kept = [line for line in lines if line and line != "^" and not re.match(r"^\d+ \|", line)]
    text = "; ".join(kept) or "the grammar engine gave no reason"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def constraint_from_options(
    json_schema: str | None = None,
    regex: str | None = None,
    choice: Sequence[str] | None = None,
    grammar: str | None = None,
) -> Constraint | None:
    """The one constraint among `run`'s options (a schema's and a grammar's text, a regex, the choices), or None."""
    given = {
        name: value
        for name, value in (("json_schema", json_schema), ("regex", regex), ("choice", choice), ("grammar", grammar))
        if value is not None
    }
    if len(given) > 1:
        raise ConfigError(f"give one constraint, not {' and '.join(given)}", *given)
    if not given:
        return None
    ((name, value),) = given.items()
    return {
        "json_schema": Constraint.json_schema,
        "regex": Constraint.regex,
        "choice": Constraint.choice,
        "grammar": Constraint.grammar,
    }[name](value, field=name)
