"""The commands that make and manage a bundle's prefixes on disk: prefix-from-text, add-prefix, remove-prefix, prefixes.

Registered on the `prefixdeploy` group by `prefixdeploy.cli`; like every command, each imports its work lazily.
"""

from __future__ import annotations

from pathlib import Path

import click

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.vocabulary import PRECISIONS


def read_text_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise PrefixDeployError(f"cannot read --text {path}: {e.strerror}") from None


@click.command("prefix-from-text")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--text", "text_file", required=True, type=click.Path(path_type=Path), help="The text (a file).")
@click.option("--name", required=True, help="Name of the new prefix.")
@click.option("--on", default=None, metavar="PREFIX", help="Run the text on top of this prefix of the bundle.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None, help="Prefix .safetensors to write.")
@click.option("--add", is_flag=True, help="Also add the prefix to BUNDLE on disk.")
@click.option("--chat-system", is_flag=True, help="The text is a system message for the model's chat template.")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Compute it with the bundle's graph of this precision (default: its first, as run uses).",
)
def prefix_from_text(bundle, text_file, name, on, output, add, chat_system, precision):
    """Store a text (instructions, a system message, examples) as a prefix: its keys and values, computed once."""
    from prefixdeploy.runtime.text_prefix import TextPrefixConfig, make_text_prefix

    config = TextPrefixConfig(
        bundle=bundle,
        text=read_text_file(text_file),
        name=name,
        on=on,
        output=output,
        add=add,
        chat_system=chat_system,
        precision=precision,
    )
    prefix = make_text_prefix(config)
    where = " and ".join(x for x in (str(output) if output else "", f"bundle {bundle}" if add else "") if x)
    click.echo(f"wrote prefix {prefix.name!r} ({prefix.num_virtual_tokens} positions; {prefix.source}) to {where}")


@click.command("add-prefix")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", default=None, help="Name in the bundle (default: the name the file records).")
def add_prefix(bundle, file, name):
    """Add a prefix file (trained, imported or made from text) to a switchable bundle, without re-export."""
    from prefixdeploy.runtime.bundle_prefixes import add_prefix_file

    entry = add_prefix_file(bundle, file, name)
    click.echo(f"added prefix {entry.name!r} ({entry.num_virtual_tokens} positions) to {bundle}")


@click.command("remove-prefix")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("name")
def remove_prefix(bundle, name):
    """Remove prefix NAME from BUNDLE on disk."""
    from prefixdeploy.runtime.bundle_prefixes import remove_prefix

    remove_prefix(bundle, name)
    click.echo(f"removed prefix {name!r} from {bundle}")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
def prefixes(bundle):
    """List BUNDLE's prefixes: name, length, source, sha256."""
    from prefixdeploy.runtime.bundle_prefixes import format_prefix_table, list_prefixes

    click.echo(format_prefix_table(list_prefixes(bundle)))


PREFIX_COMMANDS = (prefix_from_text, add_prefix, remove_prefix, prefixes)
