"""User errors on the command line: one line naming the command's flags where the library names its config fields."""

from __future__ import annotations

import re
import sys

import click

from prefixdeploy.errors import PrefixDeployError


class OneLineErrors(click.Group):
    """A user error (`PrefixDeployError`) as one line on stderr, its fields spelt as flags, and exit code 2."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except PrefixDeployError as e:
            if ctx.params.get("debug"):
                raise
            click.echo(f"error: {in_flags(e, self.get_command(ctx, ctx.invoked_subcommand or ''))}", err=True)
            sys.exit(2)


# Library fields whose option a command names otherwise: `bench --url` fills `LoadConfig` from its own options.
_FIELD_OPTIONS = {
    "bench": {"concurrencies": "sweep", "requests_per_level": "requests", "max_tokens": "output_length"},
}


def in_flags(error: PrefixDeployError, command: click.Command | None) -> str:
    """The error's message, with the config fields it names (`PrefixDeployError.fields`) spelt as the command's options:
    the one place where library field names become flags (`max_new_tokens` -> `--max-new-tokens`).

    A field is the option's parameter name (`num_virtual_tokens` -> `--prefix-length`), else the option's own
    spelling (`text` -> `--text`, whose parameter is `text_file`), else an entry of `_FIELD_OPTIONS`. A field name
    inside a path (`runs/output/x.bin`, `output.bin`) stays as it is."""
    message = str(error)
    if command is None:
        return message
    options = [p for p in command.params if isinstance(p, click.Option)]
    flags = {max(p.opts, key=len).lstrip("-").replace("-", "_"): max(p.opts, key=len) for p in options}
    flags |= {p.name: max(p.opts, key=len) for p in options}
    flags |= {field: flags[name] for field, name in _FIELD_OPTIONS.get(command.name, {}).items() if name in flags}
    for field in error.fields:
        if field in flags:
            message = re.sub(rf"(?<![\w\-/\\.]){re.escape(field)}(?![\w/\\]|\.\w)", flags[field], message)
    return message
