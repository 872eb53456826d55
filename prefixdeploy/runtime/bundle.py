"""Load a bundle (manifest, hashes, prefixes, tokenizer, backend) and generate with a prefix chosen per call.

Must not import torch. Prefixes load once; choosing another prefix per call never rebuilds the session.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from prefixdeploy.errors import BundleError, ConfigError, PrefixDeployError
from prefixdeploy.runtime.backends import Backend, open_backend
from prefixdeploy.runtime.backends.trt.config import bundle_options
from prefixdeploy.runtime.constraints import Grammars
from prefixdeploy.runtime.generate import GenerationConfig, Scores, fill_cache, generate_steps, score_tokens
from prefixdeploy.runtime.manifest import GraphEntry, Manifest, check_files, mixed_twin_file, read_manifest
from prefixdeploy.runtime.memory import release_free_heap
from prefixdeploy.runtime.prefix import VIRTUAL, Prefix, load_prefix
from prefixdeploy.runtime.providers import CPU, TENSORRT, ort_providers, select_graph
from prefixdeploy.runtime.tokenizer import TextCodec

log = logging.getLogger(__name__)

TOKENIZER_FILE = "tokenizer.json"
DEFAULT_GENERATION = GenerationConfig()


@dataclass(frozen=True)
class Generation:
    prefix: str | None
    prompt_token_ids: list[int]
    token_ids: list[int]  # new tokens, including the EOS token that ended the row (as HF's generate returns it)
    text: str  # the new tokens decoded, special tokens skipped

    def to_json(self) -> dict:
        return {
            "prefix": self.prefix,
            "prompt_token_ids": self.prompt_token_ids,
            "token_ids": self.token_ids,
            "text": self.text,
        }


class Bundle:
    """A loaded bundle. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        graph: GraphEntry,
        prefixes: dict[str, Prefix],
        codec,
        backend,
        batch_graph: GraphEntry | None = None,
        mixed_graph: str | None = None,
    ):
        self.path, self.manifest, self.graph, self.batch_graph = path, manifest, graph, batch_graph
        self.mixed_graph = mixed_graph  # the file of the mixed-step twin the backend holds, if any
        self.prefixes, self.codec, self.backend = prefixes, codec, backend
        self.grammars = Grammars(codec.tokenizer, manifest.vocab_size, manifest.eos_token_ids)  # built on first use

    # -- choosing prefixes ----------------------------------------------------------------------------------------

    @property
    def prefix_names(self) -> list[str]:
        """The names of the prefixes this bundle can apply, in manifest order (then those added)."""
        return list(self.prefixes)

    def resolve(self, name: str | Prefix | None) -> Prefix | None:
        """The Prefix a row uses. Switchable bundles accept None (no prefix); baked ones always apply theirs.

        A Prefix this bundle already resolved passes through unchanged: resolve a name once, then carry the object.
        """
        if isinstance(name, Prefix):
            if self.prefixes.get(name.name) is not name:
                raise PrefixDeployError(f"prefix {name.name!r} is not one of this bundle's; add it with add_prefix")
            return name
        if self.manifest.mode == "baked":
            if name is None:
                if len(self.prefixes) == 1:
                    return next(iter(self.prefixes.values()))
                raise PrefixDeployError(f"this bundle bakes several prefixes; choose one of: {_listing(self)}")
        elif name is None:
            return None
        if name not in self.prefixes:
            raise PrefixDeployError(f"unknown prefix {name!r}; this bundle has: {_listing(self)}")
        return self.prefixes[name]

    def add_prefix(self, prefix: Prefix) -> None:
        """Make another prefix available to a switchable bundle in memory (no re-export, no session rebuild)."""
        if self.manifest.mode != "switchable":
            raise PrefixDeployError("prefixes can be added only to a switchable bundle; this one is baked")
        prefix.check_fits(self.manifest.model, f"bundle {self.path.name}")
        self.prefixes[prefix.name] = prefix

    # -- generating -------------------------------------------------------------------------------------------------

    def encode(self, prompt: str, chat: bool = False, prefix: str | Prefix | None = None) -> list[int]:
        """The prompt's ids as they follow `prefix`: after a prefix made from text a prompt continues that text, and
        after a stored system message a chat prompt is the user turn alone (see `TextCodec.encode`)."""
        unnamed = prefix is None and len(self.prefixes) > 1  # no prefix, or a bank's not named yet: a sequence start
        chosen = None if unnamed else self.resolve(prefix)
        return self.codec.encode(prompt, chat=chat, after=chosen.ends_with if chosen else VIRTUAL)

    def steps(self, prompt_ids: list[list[int]], prefixes: list[str | Prefix | None], config: GenerationConfig):
        """The raw step iterator (tokens and logits per step) for a batch; see `generate.generate_steps`.

        prefixes: per row, a name, a Prefix from `resolve`, or None (see `resolve`).
        """
        if len(prompt_ids) != len(prefixes):
            raise PrefixDeployError(f"{len(prompt_ids)} prompts but {len(prefixes)} prefixes; give one per prompt")
        rows = [self.resolve(name) for name in prefixes]
        inplace = self.graph.kind == "ort"  # the ONNX Runtime variant: fused attention over in-place KV buffers
        own = ()
        if config.constraint is not None:  # compiled once (cached), checked before any forward; a matcher per row
            compiled = self.grammars.compile(config.constraint)
            own = [(compiled.processor(),) for _ in rows]
        return generate_steps(
            self.backend, self.manifest, prompt_ids, rows, config, inplace=inplace, row_processors=own
        )

    def score(self, ids: list[int], prefix: str | Prefix | None = None) -> Scores:
        """Teacher forcing over ids with `prefix`: log-probabilities of ids[1:] and the greedy choice at each."""
        inplace = self.graph.kind == "ort"
        return score_tokens(self.backend, self.manifest, ids, self.resolve(prefix), inplace=inplace)

    def fill_cache(self, ids: list[int], prefix: str | Prefix | None) -> tuple[np.ndarray, np.ndarray]:
        """Run ids on top of `prefix` with this bundle's graph; the cache they leave, each (L, H_kv, P+T, D)."""
        return fill_cache(self.backend, self.manifest, ids, self.resolve(prefix), inplace=self.graph.kind == "ort")

    def generate_ids(
        self, prompt_ids: list[list[int]], prefixes: list[str | Prefix | None], config: GenerationConfig
    ) -> list[list[int]]:
        """New token ids per row; a row stops after its EOS token (unless config.ignore_eos)."""
        out: list[list[int]] = [[] for _ in prompt_ids]
        for step in self.steps(prompt_ids, prefixes, config):
            for r in np.flatnonzero(~step.finished):
                out[r].append(int(step.tokens[r]))
        return out

    def generate(
        self,
        prompts: list[str],
        prefixes: list[str | None],
        config: GenerationConfig = DEFAULT_GENERATION,
        chat: bool = False,
    ) -> list[Generation]:
        """Generate for a batch of prompts in one forward pass per step; row r uses prefix `prefixes[r]`."""
        rows = [self.resolve(name) for name in prefixes]
        prompt_ids = [self.encode(p, chat, row) for p, row in zip(prompts, rows)]
        new = self.generate_ids(prompt_ids, rows, config)
        return [
            Generation(p.name if p else None, ids, toks, self.codec.decode(toks))
            for p, ids, toks in zip(rows, prompt_ids, new)
        ]

    def stream(
        self,
        prompt: str,
        prefix: str | Prefix | None,
        config: GenerationConfig = DEFAULT_GENERATION,
        chat: bool = False,
    ) -> Iterator[int]:
        """Yield the new token ids of one prompt as they are generated."""
        return self.stream_ids(self.encode(prompt, chat, prefix), prefix, config)

    def stream_ids(self, prompt_ids: list[int], prefix: str | Prefix | None, config: GenerationConfig) -> Iterator[int]:
        for step in self.steps([prompt_ids], [prefix], config):
            if not step.finished[0]:
                yield int(step.tokens[0])

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def load_bundle(
    path: str | Path,
    backend: str = "ort",
    graph: str | None = None,
    precision: str | None = None,
    verify_hashes: bool = True,
    provider: str = CPU,
    manifest: Manifest | None = None,
    batch_precision: str | None = None,
    mixed_steps: bool = False,
    **backend_options,
) -> Bundle:
    """Load a bundle directory: check its format version and file hashes, load prefixes, tokenizer and backend.

    graph: the file of one of the manifest's graphs; precision: the first graph of that precision. Default: the
    first graph `backend` can run (the exporter lists the ONNX Runtime variant first, the portable graph last).
    provider: ONNX Runtime's execution provider, cpu | cuda | tensorrt (see `providers`); the TensorRT provider,
    like the TensorRT backend, takes the portable graph and the options fp16, max_batch, max_sequence, max_total.
    manifest: the manifest of a bundle still being written (the exporter's reference cases); default: manifest.json.
    batch_precision: also load the ONNX Runtime graph of this precision, for every call of more than one token
    (prompts, decode steps of several rows); the chosen graph runs one row's decode steps (`OrtBackend`).
    mixed_steps: also load the mixed-step twin of the graph that runs batches, where the bundle has one (bundles
    exported before twins have none: `Bundle.mixed_graph` is then None), so that a serving step decodes its rows and
    prefills a prompt chunk in one forward (`KVSlots.mixed`).
    """
    path = Path(path)
    manifest = manifest or read_manifest(path)
    if backend != "ort" and provider != CPU:
        raise ConfigError(
            f"provider {provider} is ONNX Runtime's; backend {backend} runs without it", "provider", "backend"
        )
    entry = select_graph(manifest.graphs, TENSORRT if backend == "trt" else provider, graph, precision)
    batch_entry = _batch_graph(manifest, entry, backend, provider, batch_precision)
    if batch_entry is not None:
        backend_options["batch_model"] = path / batch_entry.file
    mixed_file = _mixed_twin(manifest, batch_entry or entry, backend, provider) if mixed_steps else None
    if mixed_file is not None:
        backend_options["mixed_model"] = path / mixed_file
    if backend == "trt" or provider == TENSORRT:  # the engine profile: TrtConfig's defaults, within max_context
        backend_options = bundle_options(backend_options, manifest.max_context)
        backend_options.setdefault("fp16", precision == "fp16")
    if backend == "ort" and provider != CPU:
        backend_options["providers"] = ort_providers(provider, manifest, backend_options)
    # Hash the files while the backend builds its session: both mostly wait on disk and native code.
    with ThreadPoolExecutor(1) as pool:
        hashing = pool.submit(check_files, manifest, path) if verify_hashes else None
        try:
            backend_obj = _open(backend, path / entry.file, backend_options)
        except BundleError:
            if hashing is not None:
                hashing.result()  # a missing or tampered file explains the failure best
            raise
        try:
            if hashing is not None:
                hashing.result()
        except BundleError:
            backend_obj.close()
            raise
    prefixes = {
        p.name: replace(load_prefix(path / p.file, name=p.name), bank_index=p.bank_index) for p in manifest.prefixes
    }
    for prefix in prefixes.values():
        prefix.check_fits(manifest.model, f"bundle {path.name}")
    codec = TextCodec(path / TOKENIZER_FILE, manifest.chat_prompt, manifest.chat_system)
    release_free_heap()  # what parsing and session building freed, before generating adds its own peak
    return Bundle(path, manifest, entry, prefixes, codec, backend_obj, batch_entry, mixed_file)


def _mixed_twin(manifest: Manifest, entry: GraphEntry, backend: str, provider: str) -> str | None:
    """The file of `entry`'s mixed-step twin, if the bundle lists one and ONNX Runtime runs it (not TensorRT)."""
    twin = mixed_twin_file(entry.file)
    if backend != "ort" or provider == TENSORRT or entry.kind != "ort" or twin not in manifest.files:
        return None
    return twin


def _batch_graph(
    manifest: Manifest, entry: GraphEntry, backend: str, provider: str, precision: str | None
) -> GraphEntry | None:
    """The graph of `precision` that runs batches beside `entry`: another ONNX Runtime graph (the backend checks that
    both take and give the same tensors, so that one KV buffer serves both)."""
    if precision is None:
        return None
    if backend != "ort" or entry.kind != "ort":
        raise ConfigError(
            f"batch_precision pairs two ONNX Runtime graphs; {entry.file} is {backend} {entry.kind}", "batch_precision"
        )
    batch = select_graph(manifest.graphs, provider, None, precision)
    if batch.kind != "ort" or batch.file == entry.file:
        raise ConfigError(
            f"batch_precision {precision} must name an ONNX Runtime graph other than {entry.file}; "
            f"the bundle's is {batch.file}",
            "batch_precision",
        )
    return batch


def _listing(bundle: Bundle) -> str:
    return ", ".join(sorted(bundle.prefix_names)) or "(none)"


def _open(backend: str, file: Path, options: dict) -> Backend:
    try:
        return open_backend(backend, file, **options)
    except PrefixDeployError:
        raise
    except Exception as e:  # onnxruntime and tensorrt raise their own exception types
        raise BundleError(f"could not load {file.name}: {str(e).splitlines()[0]}") from None
