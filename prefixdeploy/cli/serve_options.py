"""`serve`'s engine options (rows, queue, prefill budget), its keys and its limits against hostile or broken clients
(docs/serving-security.md); defaults from `ServeConfig` (the engine's from `EngineConfig` through it), whose fields
the options map onto one to one."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import click

from prefixdeploy.serving.http.config import ADMIN_KEY_ENV, API_KEY_ENV, ServeConfig  # the standard library only

SERVE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServeConfig) if f.init}


def _config_option(field: str, help: str):
    """`--FIELD` for a number field of `ServeConfig`, with its default and type (the engine's fields default to
    `EngineConfig`'s there)."""
    default = SERVE_DEFAULTS[field]
    return click.option(
        "--" + field.replace("_", "-"), type=type(default), default=default, show_default=True, help=help
    )


_ENGINE_OPTIONS = (
    _config_option("max_num_seqs", "Rows decoding at once."),
    _config_option("max_queue", "Requests waiting for a row (then 429)."),
    _config_option(
        "max_prefill_tokens", "Prompt tokens prefilled per step while other rows decode (bounds their stall)."
    ),
    _config_option(
        "max_prefill_prompts",
        "Queued prompts a step may prefill within that budget, each a forward of its own (1: one per step).",
    ),
)
_KEY_FILE = click.Path(dir_okay=False, path_type=Path)
_KEY_OPTIONS = (
    click.option(
        "--api-key",
        "api_keys",
        multiple=True,
        envvar=API_KEY_ENV,
        help=f"An inference key, 'Authorization: Bearer KEY' (repeatable; {API_KEY_ENV}: keys separated by spaces).",
    ),
    click.option("--api-key-file", type=_KEY_FILE, default=None, help="More inference keys, one per line."),
    click.option(
        "--admin-key",
        "admin_keys",
        multiple=True,
        envvar=ADMIN_KEY_ENV,
        help=f"A key for prefix load/unload and /metrics (repeatable; {ADMIN_KEY_ENV}). Default: the inference keys.",
    ),
    click.option("--admin-key-file", type=_KEY_FILE, default=None, help="More admin keys, one per line."),
)
_LIMIT_OPTIONS = (
    _config_option("max_connections", "Open connections; one more is answered 503 and closed."),
    _config_option("header_timeout", "Seconds for a request's headers to arrive (then 408, closed)."),
    _config_option("body_timeout", "Seconds for a request's body to arrive after its headers (then 408, closed)."),
    _config_option("max_runtime_prefixes", "Prefixes loaded through POST /v1/prefixes at once (then 409)."),
    _config_option("max_runtime_prefix_bytes", "Their keys and values together (then 409)."),
)


def _decorator(options: tuple) -> Callable:
    """A decorator adding `options` to a command, in their order in --help."""

    def add(command):
        for option in reversed(options):
            command = option(command)
        return command

    return add


engine_options = _decorator(_ENGINE_OPTIONS)  # rows, queue and prefill budget: EngineConfig's fields
key_and_limit_options = _decorator((*_KEY_OPTIONS, *_LIMIT_OPTIONS))
