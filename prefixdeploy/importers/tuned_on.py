"""Which model a prefix source says it was tuned on, checked against the model it is imported for.

A prefix fits every model with the same KV shape, so the shape check alone lets a BERT P-Tuning v2 prefix into GPT-2
or a Mistral adapter into a Llama; the keys and values are then meaningless to the model. Sources record their model
in different places: Li & Liang and P-Tuning v2 save the base model's config.json (`model_type`, `architectures`),
PEFT records `base_model_name_or_path`, and a prefix file the facts of the model it was made for. A mismatch is
refused naming both models; `allow_other_model` turns the refusal into a warning, for a user who knows better.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.importers.weights import read_config
from prefixdeploy.runtime.prefix import ModelFacts

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")  # "gpt2", "org/name"; a path that exists here is a directory instead


@dataclass(frozen=True)
class TunedOn:
    """What a source records about the model it was made for; any of the facts may be unknown."""

    where: str  # the file (and field) that says so, for messages
    model_type: str | None = None
    architectures: tuple[str, ...] = ()  # the base model's classes (not upstream's own PrefixTuning modules)
    base: str | None = None  # the hub id or directory the source names
    fingerprint: str | None = None  # a prefix file's digest of the weights it was made for
    verb: str = "was tuned on"


def from_config(config: dict, where: Path) -> TunedOn | None:
    """From a checkpoint's config.json (the base model's config plus the format's own keys); None if it has none."""
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else None
    found = config.get("architectures") if isinstance(config.get("architectures"), list) else []
    # Li & Liang's save_pretrained records its own module (PrefixTuning, PrefixEmbTuning), not GPT-2's class.
    architectures = tuple(a for a in found if isinstance(a, str) and not a.startswith("Prefix"))
    if model_type:
        return TunedOn(f"model_type in {where}", model_type=model_type)
    return TunedOn(f"architectures in {where}", architectures=architectures) if architectures else None


def from_base_name(base: str, where: Path) -> TunedOn:
    """From PEFT's `base_model_name_or_path`; a local directory's config.json tells its model_type."""
    model_type = None
    if (Path(base) / "config.json").is_file():
        try:
            model_type = read_config(Path(base) / "config.json").get("model_type")
        except PrefixSourceError:
            pass  # an unreadable config there says nothing about the adapter
    return TunedOn(f"base_model_name_or_path in {where}", model_type=model_type or None, base=base)


def from_facts(facts: ModelFacts, where: Path) -> TunedOn:
    """From a prefix file's metadata: the facts of the model it was made for."""
    return TunedOn(str(where), model_type=facts.architecture, fingerprint=facts.fingerprint, verb="was made for")


def check_tuned_on(
    tuned_on: TunedOn | None, facts: ModelFacts, name: str, model_source: str | None, allow_other_model: bool
) -> None:
    """Refuse a prefix whose source names another model than `facts` (and `model_source`, what the user named)."""
    if tuned_on is None or (tuned_on.base and _same_model(tuned_on.base, model_source)):
        return
    model = f"a {facts.architecture!r} model" + (f" ({model_source!r})" if model_source else "")
    problem = _mismatch(tuned_on, facts, model_source)
    if problem is None:
        _warn_if_unsure(tuned_on, facts, name, model_source, allow_other_model)
        return
    said = f"prefix {name!r} {tuned_on.verb} {problem} ({tuned_on.where}); the model is {model}"
    if allow_other_model:
        log.warning("%s; importing it anyway (allow_other_model)", said)
        return
    raise PrefixMismatchError(
        f"{said}. Import it for the model it was tuned on, or set allow_other_model if you know it fits this one",
        fields=("allow_other_model",),
    )


def _mismatch(tuned_on: TunedOn, facts: ModelFacts, model_source: str | None) -> str | None:
    """How a message names the other model the source records, or None if nothing recorded disagrees."""
    family = facts.architecture
    if tuned_on.model_type and tuned_on.model_type != family:
        base = f"{tuned_on.base!r}, " if tuned_on.base else ""
        return f"{base}a {tuned_on.model_type!r} model"
    if tuned_on.architectures and not any(_names_family(a, family) for a in tuned_on.architectures):
        return f"a {', '.join(tuned_on.architectures)}"
    if tuned_on.base and not tuned_on.model_type and _is_hub_id(tuned_on.base) and _is_hub_id(model_source):
        return repr(tuned_on.base)  # two hub ids that differ (_same_model) are two models
    return None


def _warn_if_unsure(
    tuned_on: TunedOn, facts: ModelFacts, name: str, model_source: str | None, allow_other_model: bool
) -> None:
    """What cannot be checked: a base named by a hub id against a local model, or other weights of the same family."""
    if allow_other_model:
        return
    if tuned_on.base and not tuned_on.model_type and model_source:
        log.warning(
            "prefix %r: cannot tell whether %r (%s) is the model %r; make sure the prefix was tuned on these weights",
            name,
            tuned_on.base,
            tuned_on.where,
            model_source,
        )
    elif tuned_on.fingerprint and facts.fingerprint and tuned_on.fingerprint != facts.fingerprint:
        log.warning("prefix %r was made for other weights than the model's (fingerprints differ)", name)


def _same_model(base: str, model_source: str | None) -> bool:
    if model_source is None:
        return False
    if base.lower() == model_source.lower():
        return True
    return Path(base).exists() and Path(model_source).exists() and Path(base).resolve() == Path(model_source).resolve()


def _is_hub_id(name: str | None) -> bool:
    return bool(name) and _HUB_ID.fullmatch(name) is not None and not Path(name).exists()


def _names_family(architecture: str, model_type: str) -> bool:
    """`GPT2LMHeadModel` names gpt2, `MistralForCausalLM` mistral, `GPTNeoXForCausalLM` gpt_neox."""
    return re.sub(r"[^a-z0-9]", "", architecture.lower()).startswith(re.sub(r"[^a-z0-9]", "", model_type.lower()))
