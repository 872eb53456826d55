"""User-facing error types: the CLI turns these into one line on stderr and exit code 2.

Internal invariant failures are asserts or plain exceptions and keep their traceback.
"""


class PrefixDeployError(Exception):
    """Base class for errors caused by the user's input (files, options, prompts).

    `fields`: the config fields the message names as the library spells them (`max_new_tokens`); the CLI rewrites
    each as its option (`--max-new-tokens`), the one place where field names become flags."""

    def __init__(self, message: str = "", *, fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.fields = fields


class PrefixMismatchError(PrefixDeployError):
    """A prefix does not fit the model (layers, kv heads, head dim)."""


class BundleError(PrefixDeployError):
    """A bundle is missing, corrupt, tampered with, or of an unsupported format version."""


class PrefixSourceError(PrefixDeployError):
    """A prefix source (PEFT adapter, checkpoint, safetensors) cannot be read as a prefix."""


class UnsupportedModelError(PrefixDeployError):
    """The model's architecture or configuration is not supported."""


class ContextLengthError(PrefixDeployError):
    """A request does not fit the model's context window."""


class ConfigError(PrefixDeployError):
    """A config field has a value it cannot take: `ConfigError("max_new_tokens must be at least 1", "max_new_tokens")`
    (the message names the fields, and they follow it)."""

    def __init__(self, message: str, *fields: str):
        super().__init__(message, fields=fields)
