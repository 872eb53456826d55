"""`serve`'s limits against hostile or broken clients (docs/serving-security.md), defaults from `ServeConfig`."""

from __future__ import annotations

import dataclasses

import click

from prefixdeploy.serving.http.config import ServeConfig  # the standard library only

SERVE_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ServeConfig)}

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
)


def limit_options(command):
    """Add the limit options to `serve` (they map one to one onto ServeConfig fields)."""
    for option in reversed(_LIMIT_OPTIONS):
        command = option(command)
    return command
