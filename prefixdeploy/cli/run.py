"""`prefixdeploy run`: generate a continuation of one prompt with a bundle (streamed text, or one JSON object)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from prefixdeploy.cli.options import prompt_lookup_option, provider_option
from prefixdeploy.vocabulary import BACKENDS, PRECISIONS


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.argument("prompt")
@click.option("--prefix", default=None, help="Prefix name (default: the bundle's only prefix).")
@click.option("--no-prefix", is_flag=True, help="Run the bare model (switchable bundles).")
@click.option("--max-new-tokens", type=int, default=64, show_default=True)
@click.option("--ignore-eos", is_flag=True, help="Generate exactly --max-new-tokens tokens.")
@click.option("--temperature", type=float, default=0.0, show_default=True, help="0 is greedy.")
@click.option("--top-p", type=float, default=1.0, show_default=True)
@click.option("--top-k", type=int, default=0, show_default=True)
@click.option("--min-p", type=float, default=0.0, show_default=True, help="Drop tokens below this × the likeliest's.")
@click.option("--seed", type=int, default=None)
@click.option("--chat", is_flag=True, help="Apply the model's chat template to PROMPT.")
@prompt_lookup_option(0, "Draft up to K tokens copied from the prompt and verify them in one step (greedy only).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of streaming text.")
@click.option("--json-schema", type=click.File(encoding="utf-8"), default=None, help="Output matches this JSON schema.")
@click.option("--regex", default=None, help="The whole output matches this regular expression.")
@click.option("--choice", default=None, metavar="A,B,...", help="The output is exactly one of these.")
@click.option("--grammar", type=click.File(encoding="utf-8"), default=None, help="Output follows this Lark/GBNF file.")
@click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True)
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Run the bundle's graph of this weight precision (default: its first, the first --precision of export).",
)
@provider_option
def run(
    bundle,
    prompt,
    prefix,
    no_prefix,
    max_new_tokens,
    ignore_eos,
    temperature,
    top_p,
    top_k,
    min_p,
    seed,
    chat,
    prompt_lookup,
    as_json,
    json_schema,
    regex,
    choice,
    grammar,
    backend,
    precision,
    provider,
):
    """Generate a continuation of PROMPT with a bundle."""
    from prefixdeploy.runtime.constraints import constraint_from_options
    from prefixdeploy.runtime.generate import GenerationConfig
    from prefixdeploy.runtime.run import RunConfig, run_prompt

    generation = GenerationConfig(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        min_p=min_p,
        seed=seed,
        ignore_eos=ignore_eos,
        prompt_lookup=prompt_lookup,
        constraint=constraint_from_options(
            json_schema.read() if json_schema else None,
            regex,
            choice.split(",") if choice is not None else None,
            grammar.read() if grammar else None,
        ),
    )
    config = RunConfig(
        bundle,
        prompt,
        prefix=prefix,
        no_prefix=no_prefix,
        chat=chat,
        generation=generation,
        backend=backend,
        precision=precision,
        provider=provider,
    )
    if as_json:
        click.echo(json.dumps(run_prompt(config).to_json(), ensure_ascii=False))
        return
    run_prompt(config, on_text=lambda piece: click.echo(piece, nl=False))
    click.echo()
