"""Registry of supported model families, keyed by Hugging Face `model_type`."""

from __future__ import annotations

from prefixdeploy.errors import UnsupportedModelError

REGISTRY: dict[str, type] = {}


def register(cls):
    for model_type in cls.model_types:
        REGISTRY[model_type] = cls
    return cls


def get_arch(model_type: str) -> type:
    """The ArchSpec class for `model_type`, or UnsupportedModelError listing the supported ones."""
    if model_type not in REGISTRY:
        raise UnsupportedModelError(
            f"architecture {model_type!r} is not supported; supported: {', '.join(sorted(REGISTRY))}"
        )
    return REGISTRY[model_type]


from prefixdeploy.models.archs import gemma, gpt2, llama, phi3  # noqa: E402,F401  (registers the families)
