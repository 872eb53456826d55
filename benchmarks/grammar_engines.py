"""llguidance against xgrammar on SmolLM2's 49k vocabulary: how prefixdeploy chose its grammar engine.

    python benchmarks/grammar_engines.py [--tokenizer tokenizer.json] [--repetitions 20]

Each engine that imports is timed on the same schemas and the same token paths (the answers below, tokenized by the
model's own tokenizer): tokenizer setup, compile time per schema (first and cached), and per generated token the
mask (bitmask fill) plus consuming the chosen token, at batch 1 and at 8 rows (one matcher per row; serial, and the
engine's own parallel batch call). It also reports whether importing the engine loads torch (the runtime must not).
xgrammar requires torch, transformers and triton as dependencies; to time it without them in the environment:
`pip install --no-deps --target DIR xgrammar apache-tvm-ffi` and put DIR on PYTHONPATH (torch must import).
Prints one JSON line per engine and measure. Results and the decision: docs/structured.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

EXTRACT = {
    "type": "object",
    "properties": {"person": {"type": "string"}, "city": {"type": "string"}},
    "required": ["person", "city"],
    "additionalProperties": False,
}
ORDER = {  # larger: nested objects, an array, an enum, an integer range, a pattern
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"},
        "status": {"enum": ["open", "shipped", "delivered", "cancelled"]},
        "customer": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "email": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name", "email"],
            "additionalProperties": False,
        },
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "sku": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 99},
                    "price": {"type": "number"},
                },
                "required": ["sku", "quantity", "price"],
                "additionalProperties": False,
            },
            "minItems": 1,
        },
        "gift": {"type": "boolean"},
    },
    "required": ["id", "status", "customer", "items", "gift"],
    "additionalProperties": False,
}
ANSWERS = {
    "extract": (
        EXTRACT,
        [
            '{"person": "Ines Obi", "city": "Seville"}',
            '{"person": "Kwame Mensah", "city": "Rio de Janeiro"}',
            '{"person": "Zeynep", "city": "Ho Chi Minh City"}',
        ],
    ),
    "order": (
        ORDER,
        [
            '{"id": "ABC-1234", "status": "shipped", "customer": {"name": "Ana Silva", "email": "ana@example.com", '
            '"age": 41}, "items": [{"sku": "X-1", "quantity": 2, "price": 9.5}, {"sku": "Y-22", "quantity": 1, '
            '"price": 120.0}], "gift": false}'
        ],
    ),
}
BATCH = 8


def median_ms(times: list[float]) -> float:
    return round(1e3 * statistics.median(times), 4)


class Llguidance:
    name = "llguidance"

    def __init__(self, tokenizer_json: str, vocab: int, eos: int):
        import llguidance

        self.llg = llguidance
        import llguidance.numpy as llnp

        self.llnp = llnp
        self.tokenizer = llguidance.LLTokenizer(tokenizer_json, n_vocab=vocab, eos_token=eos)
        self.vocab = vocab
        self.executor = llguidance.LLExecutor()
        self.cache: dict[str, str] = {}

    def compile(self, schema: dict):
        key = json.dumps(schema, sort_keys=True)
        if key not in self.cache:
            grammar = self.llg.LLMatcher.grammar_from_json_schema(schema)
            error = self.llg.LLMatcher.validate_grammar(grammar, self.tokenizer)
            assert not error, error
            self.cache[key] = grammar
        return self.llg.LLMatcher(self.tokenizer, self.cache[key])  # the matcher itself is the tokenizer-bound part

    def bitmask(self, rows: int) -> np.ndarray:
        return self.llnp.allocate_token_bitmask(rows, self.vocab)

    def fill(self, matcher, mask: np.ndarray, row: int) -> None:
        self.llnp.fill_next_token_bitmask(matcher, mask, row)

    def fill_batch(self, matchers: list, mask: np.ndarray) -> None:
        self.llnp.fill_next_token_bitmask_par(self.executor, [(m, i) for i, m in enumerate(matchers)], mask)

    def consume(self, matcher, token: int) -> None:
        assert matcher.consume_token(token), matcher.get_error()


class Xgrammar:
    name = "xgrammar"

    def __init__(self, tokenizer_json: str, vocab: int, eos: int):
        import xgrammar

        self.xgr = xgrammar
        from tokenizers import Tokenizer
        from transformers import PreTrainedTokenizerFast

        hf = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(tokenizer_json))
        info = xgrammar.TokenizerInfo.from_huggingface(hf, vocab_size=vocab, stop_token_ids=[eos])
        self.compiler = xgrammar.GrammarCompiler(info, max_threads=2)
        self.vocab = vocab
        self.batch = xgrammar.BatchGrammarMatcher(max_threads=2)

    def compile(self, schema: dict):
        compiled = self.compiler.compile_json_schema(json.dumps(schema), any_whitespace=False)  # cached inside
        return self.xgr.GrammarMatcher(compiled)

    def bitmask(self, rows: int) -> np.ndarray:
        return np.full((rows, (self.vocab + 31) // 32), -1, np.int32)

    def fill(self, matcher, mask: np.ndarray, row: int) -> None:
        matcher.fill_next_token_bitmask(mask, row)

    def fill_batch(self, matchers: list, mask: np.ndarray) -> None:
        self.batch.batch_fill_next_token_bitmask(matchers, mask)

    def consume(self, matcher, token: int) -> None:
        assert matcher.accept_token(token)


def run_engine(cls, tokenizer_json: str, vocab: int, eos: int, paths: dict, repetitions: int) -> list[dict]:
    before = "torch" in sys.modules
    t = time.perf_counter()
    engine = cls(tokenizer_json, vocab, eos)
    out = [{"engine": cls.name, "measure": "setup_ms", "value": median_ms([time.perf_counter() - t])}]
    out.append({"engine": cls.name, "measure": "loads_torch", "value": not before and "torch" in sys.modules})
    for name, (schema, tokens) in paths.items():
        t = time.perf_counter()
        engine.compile(schema)
        first = time.perf_counter() - t
        t = time.perf_counter()
        engine.compile(schema)
        cached = time.perf_counter() - t
        out.append({"engine": cls.name, "schema": name, "measure": "compile_ms", "value": median_ms([first])})
        out.append({"engine": cls.name, "schema": name, "measure": "compile_cached_ms", "value": median_ms([cached])})
        out += time_tokens(engine, name, schema, tokens, repetitions)
    return out


def time_tokens(engine, name: str, schema: dict, paths: list[list[int]], repetitions: int) -> list[dict]:
    """Per token: fill the mask of every row, then each row consumes its next token of its path."""
    one, serial, parallel = [], [], []
    mask1, mask8 = engine.bitmask(1), engine.bitmask(BATCH)
    for _ in range(repetitions):
        for path in paths:
            m = engine.compile(schema)
            for token in path:
                t = time.perf_counter()
                engine.fill(m, mask1, 0)
                engine.consume(m, token)
                one.append(time.perf_counter() - t)
            rows = [engine.compile(schema) for _ in range(BATCH)]
            for token in path:
                t = time.perf_counter()
                for i, r in enumerate(rows):
                    engine.fill(r, mask8, i)
                for r in rows:
                    engine.consume(r, token)
                serial.append(time.perf_counter() - t)
            rows = [engine.compile(schema) for _ in range(BATCH)]
            for token in path:
                t = time.perf_counter()
                engine.fill_batch(rows, mask8)
                for r in rows:
                    engine.consume(r, token)
                parallel.append(time.perf_counter() - t)
    base = {"engine": engine.name, "schema": name}
    return [
        base | {"measure": "token_ms_batch1", "value": median_ms(one)},
        base | {"measure": f"step_ms_batch{BATCH}_serial", "value": median_ms(serial)},
        base | {"measure": f"step_ms_batch{BATCH}_parallel", "value": median_ms(parallel)},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, help="tokenizer.json (default: SmolLM2's, fetched once)")
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--engines", default="llguidance,xgrammar")
    args = parser.parse_args()
    path = args.tokenizer
    if path is None:
        from prefixdeploy.exporter.fetch import fetch_smollm2_dir

        path = fetch_smollm2_dir() / "tokenizer.json"
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    vocab, eos = tokenizer.get_vocab_size(), tokenizer.token_to_id("<|im_end|>")
    paths = {
        name: (schema, [tokenizer.encode(a, add_special_tokens=False).ids + [eos] for a in answers])
        for name, (schema, answers) in ANSWERS.items()
    }
    engines = {"llguidance": Llguidance, "xgrammar": Xgrammar}
    for name in args.engines.split(","):
        try:
            rows = run_engine(engines[name], tokenizer.to_str(), vocab, eos, paths, args.repetitions)
        except ImportError as e:
            rows = [{"engine": name, "measure": "skipped", "value": str(e)}]
        for row in rows:
            print(json.dumps(row))


if __name__ == "__main__":
    main()
