"""`serve`'s keys and its limits against hostile or broken clients (docs/serving-security.md); defaults from
`ServeConfig`, whose fields the options map onto one to one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from prefixdeploy.serving.http.config import ADMIN_KEY_ENV, API_KEY_ENV, ServeConfig  # the standard library only

SERVE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServeConfig) if f.init}

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
    click.option(
        "--max-connections",
        type=int,
        default=SERVE_DEFAULTS["max_connections"],
        show_default=True,
        help="Open connections; one more is answered 503 and closed.",
    ),
    click.option(
        "--header-timeout",
        type=float,
        default=SERVE_DEFAULTS["header_timeout"],
        show_default=True,
        help="Seconds for a request's headers to arrive (then 408, closed).",
    ),
    click.option(
        "--body-timeout",
        type=float,
        default=SERVE_DEFAULTS["body_timeout"],
        show_default=True,
        help="Seconds for a request's body to arrive after its headers (then 408, closed).",
    ),
    click.option(
        "--max-runtime-prefixes",
        type=int,
        default=SERVE_DEFAULTS["max_runtime_prefixes"],
        show_default=True,
        help="Prefixes loaded through POST /v1/prefixes at once (then 409).",
    ),
    click.option(
        "--max-runtime-prefix-bytes",
        type=int,
        default=SERVE_DEFAULTS["max_runtime_prefix_bytes"],
        show_default=True,
        help="Their keys and values together (then 409).",
    ),
)


def key_and_limit_options(command):
    """Add the key and limit options to `serve`."""
    for option in reversed((*_KEY_OPTIONS, *_LIMIT_OPTIONS)):
        command = option(command)
    return command
