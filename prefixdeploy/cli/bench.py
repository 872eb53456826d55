"""`prefixdeploy bench`: time a bundle in-process, or (--url) drive a running server with a concurrency sweep."""

from __future__ import annotations

from pathlib import Path

import click

from prefixdeploy.cli.options import prompt_lookup_option, provider_option
from prefixdeploy.errors import PrefixDeployError


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path), required=False)
@click.option("--prompt-length", type=int, default=56, show_default=True, help="Input tokens per row (ISL).")
@click.option("--output-length", type=int, default=32, show_default=True, help="New tokens per row (OSL).")
@click.option("--batch-size", type=int, default=1, show_default=True, help="Rows per request (mixed batches: 8 if 1).")
@click.option("--concurrency", type=int, default=1, show_default=True, help="Threads issuing requests at once.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed requests per thread per row.")
@click.option("--repetitions", type=int, default=10, show_default=True, help="Timed requests per thread per row.")
@click.option("--graph", default=None, metavar="FILE", help="Which of the bundle's graphs (default: its first).")
@provider_option
@click.option(
    "--prefix", "prefixes", multiple=True, metavar="NAME", help="Only these prefixes (--url: model ids); repeat."
)
@click.option(
    "--scenarios",
    default="prefix,no-prefix,alternating,mixed-batch",
    show_default=True,
    help="Comma list of scenarios to run (also: text-prefix, prompt-lookup, structured).",
)
@click.option(
    "--text-prefix-length",
    type=int,
    default=400,
    show_default=True,
    help="text-prefix scenario: tokens of the instruction block stored as a prefix vs placed in the prompt.",
)
@prompt_lookup_option(10, "prompt-lookup scenario: longest draft.")
@click.option(
    "--inputs",
    type=click.Path(path_type=Path),
    default=None,
    help='prompt-lookup and structured scenarios: prompts (JSONL with an "input" field, or one per line).',
)
@click.option(
    "--json-schema",
    type=click.Path(path_type=Path),
    default=None,
    help="structured scenario: the JSON schema the constrained runs follow.",
)
@click.option("--json", "json", type=click.Path(path_type=Path), default=None, help="Write the results as JSON.")
@click.option("--plot", type=click.Path(path_type=Path), default=None, help="Write a PNG of latency per prefix.")
@click.option(
    "--url", default=None, help="Drive a running OpenAI-compatible server instead of BUNDLE: a concurrency sweep."
)
@click.option("--sweep", default="1,2,4,8,16", show_default=True, help="--url: concurrency levels, a comma list.")
@click.option("--requests", type=int, default=0, help="--url: requests per level (default max(16, 4 × level)).")
@click.option("--prompt", default=None, help="--url: the prompt text of every request (default: a 33-token one).")
@click.option("--rounds", type=int, default=1, show_default=True, help="--url: levels take turns in this many parts.")
@click.option("--api-key", envvar="PREFIXDEPLOY_API_KEY", default=None, help="--url: the server's key.")
def bench(bundle, url, sweep, requests, prompt, rounds, api_key, **options):
    """Time BUNDLE per prefix, without a prefix, alternating prefixes and in mixed batches; or, with --url, a
    running server at concurrency 1, 2, 4, 8, 16 with a random model (prefix) per request."""
    if url is not None:
        sweep_options = dict(concurrencies=_levels(sweep), requests_per_level=requests, rounds=rounds, api_key=api_key)
        bench_url(url, sweep_options | ({"prompt": prompt} if prompt is not None else {}), options)
        return
    if bundle is None:
        raise PrefixDeployError("bench needs a BUNDLE, or --url of a running server")
    from prefixdeploy.bench import BenchConfig, format_report, run_bench

    click.echo(format_report(run_bench(BenchConfig(bundle=bundle, **options))))


def bench_url(url: str, sweep_options: dict, options: dict) -> None:
    """The serving sweep (prefixdeploy.bench.loadgen): a table, and the JSON and PNG when asked."""
    from prefixdeploy.bench.loadgen import LoadConfig, format_sweep, run_sweep

    config = LoadConfig(
        url=url.rstrip("/"),
        max_tokens=options["output_length"],
        models=tuple(options["prefixes"]),
        **sweep_options,
    )
    report = run_sweep(config, options["json"])
    click.echo(format_sweep(report))
    for row in report["levels"]:
        for error in row["errors"]:
            click.echo(f"concurrency {row['concurrency']}: failed with {error}", err=True)
    if options["plot"] is not None:
        from prefixdeploy.bench.loadgen_plot import write_sweep_plot

        write_sweep_plot(report, options["plot"])


def _levels(sweep: str) -> tuple[int, ...]:
    try:
        return tuple(int(level) for level in sweep.split(","))
    except ValueError:
        raise PrefixDeployError(f"--sweep must be a comma list of integers, e.g. 1,2,4,8, got {sweep!r}") from None
