"""`BenchConfig`: every option of `prefixdeploy bench`, validated once. Must not import torch."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError

# Scenario names, in the order they run (`scenarios` picks a subset; the order stays this one).
PREFIX, NO_PREFIX, ALTERNATING, MIXED_BATCH = "prefix", "no-prefix", "alternating", "mixed-batch"
TEXT_PREFIX, PROMPT_LOOKUP, STRUCTURED = "text-prefix", "prompt-lookup", "structured"
SCENARIOS = (PREFIX, NO_PREFIX, ALTERNATING, MIXED_BATCH, TEXT_PREFIX, PROMPT_LOOKUP, STRUCTURED)
DEFAULT_SCENARIOS = (PREFIX, NO_PREFIX, ALTERNATING, MIXED_BATCH)
MIXED_BATCH_DEFAULT = 8  # rows of the mixed-batch scenario when batch_size is 1


@dataclass(frozen=True)
class BenchConfig:
    bundle: Path
    _: KW_ONLY  # the options below are passed by name
    prompt_length: int = 56  # ISL: input tokens per row (a fixed synthetic prompt of exactly this length)
    output_length: int = 32  # OSL: new tokens per row (EOS ignored); TPOT needs at least 2
    batch_size: int = 1  # rows per request; the mixed-batch scenario uses this, or 8 when it is 1
    concurrency: int = 1  # threads issuing requests at once against the one loaded bundle
    warmup: int = 2  # untimed requests per thread before each measurement
    repetitions: int = 10  # timed requests per thread per measurement
    graph: str | None = None  # which of the manifest's graphs (its file name); None: the runtime's default
    provider: str = "cpu"  # ONNX Runtime execution provider: cpu | cuda | tensorrt
    prefixes: tuple[str, ...] = ()  # restrict the scenarios to these prefixes; empty: all of the bundle's
    scenarios: tuple[str, ...] | str = DEFAULT_SCENARIOS  # a subset of SCENARIOS, or the same comma-separated
    text_prefix_length: int = 400  # tokens of the instruction block the text-prefix scenario stores as a prefix
    prompt_lookup: int = 10  # prompt-lookup scenario: K, the longest draft
    inputs: Path | None = None  # prompt-lookup and structured scenarios: the prompts (JSONL "input", or lines)
    json_schema: Path | None = None  # structured scenario: the JSON schema the constrained runs follow
    json: Path | None = None  # write the results as JSON here
    plot: Path | None = None  # write a PNG here (latency per prefix; TTFT and TPOT against prefix length)

    def __post_init__(self):
        object.__setattr__(self, "bundle", Path(self.bundle))
        object.__setattr__(self, "prefixes", tuple(self.prefixes))
        for name in ("json", "plot", "inputs", "json_schema"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        object.__setattr__(self, "scenarios", _parse_scenarios(self.scenarios))
        for name, least in (
            ("prompt_length", 1),
            ("output_length", 2),
            ("batch_size", 1),
            ("concurrency", 1),
            ("warmup", 0),
            ("repetitions", 1),
            ("text_prefix_length", 1),
            ("prompt_lookup", 1),
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                why = " (time per output token needs a second token)" if name == "output_length" else ""
                raise ConfigError(f"{name} must be an integer ≥ {least}{why}, got {value!r}", name)
        if PROMPT_LOOKUP in self.scenarios and self.inputs is None:
            raise ConfigError("the prompt-lookup scenario needs inputs FILE (its prompts)", "inputs")
        if STRUCTURED in self.scenarios and (self.inputs is None or self.json_schema is None):
            raise ConfigError("the structured scenario needs inputs FILE and json_schema FILE", "inputs", "json_schema")
        if self.plot is not None and Path(self.plot).suffix.lower() != ".png":
            raise ConfigError(f"plot writes a PNG; give a file name ending in .png, got {self.plot}", "plot")
        for name in ("json", "plot"):
            path = getattr(self, name)
            if path is not None and not Path(path).parent.is_dir():
                raise ConfigError(f"{name}: directory {Path(path).parent} does not exist; create it first", name)

    @property
    def mixed_batch_size(self) -> int:
        return self.batch_size if self.batch_size > 1 else MIXED_BATCH_DEFAULT


def _parse_scenarios(value: tuple[str, ...] | str) -> tuple[str, ...]:
    names = [s.strip() for s in value.split(",")] if isinstance(value, str) else [str(s).strip() for s in value]
    names = [n for n in names if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown or not names:
        found = ", ".join(unknown) if unknown else "nothing"
        raise ConfigError(f"scenarios takes a comma list of {', '.join(SCENARIOS)}; got {found}", "scenarios")
    return tuple(s for s in SCENARIOS if s in names)
