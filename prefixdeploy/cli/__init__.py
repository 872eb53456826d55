"""The `prefixdeploy` command: parse options into a config, call the package, print a short result.

Heavy packages (torch, transformers) are imported inside the commands that need them, so `prefixdeploy --help` and
`prefixdeploy run` work on a runtime-only install. User errors exit with code 2 and one line on stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click

from prefixdeploy import __version__
from prefixdeploy.cli.bench import bench
from prefixdeploy.cli.errors import OneLineErrors
from prefixdeploy.cli.options import allow_other_model_option as _allow_other_model_option
from prefixdeploy.cli.options import prompt_lookup_option as _prompt_lookup_option
from prefixdeploy.cli.options import provider_option as _provider_option
from prefixdeploy.cli.prefixes import PREFIX_COMMANDS, read_text_file
from prefixdeploy.cli.run import run
from prefixdeploy.cli.scale import SCALE_COMMANDS, pop_ray_options, ray_options, serve_on_ray
from prefixdeploy.cli.serve_options import engine_options, key_and_limit_options
from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.vocabulary import BACKENDS, MODES, PRECISIONS, RECIPES


@click.group(cls=OneLineErrors)
@click.version_option(__version__, prog_name="prefixdeploy")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.option("-v", "--verbose", is_flag=True, help="Log progress.")
def main(debug: bool, verbose: bool) -> None:
    """Export prefix-tuned decoders to ONNX bundles and run them without torch."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


def _recipe_option(precision: str, help_text: str):
    """export's --PRECISION-recipe option: vocabulary.RECIPES[precision], the first the default."""
    choices = RECIPES[precision]
    return click.option(
        f"--{precision}-recipe",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help=f"{precision} graph: {help_text}",
    )


@main.command()
@click.option("--model", required=True, help="Hub id, local model directory, or .gguf file.")
@click.option("--prefix", "prefixes", multiple=True, metavar="[NAME=]SRC", help="Prefix source; repeat for more.")
@click.option("--mode", type=click.Choice(MODES), default=MODES[0], show_default=True)
@click.option("--opset", type=int, default=17, show_default=True, help="ONNX opset (17–20).")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Bundle directory to write.")
@click.option("--force", is_flag=True, help="Replace a non-empty output directory.")
@click.option(
    "--precision",
    "precisions",
    multiple=True,
    type=click.Choice(PRECISIONS),
    help="Weight precision of the ONNX Runtime graph; repeat for several (default: fp32).",
)
@_recipe_option(
    "int4",
    "lm_head and MLP down projections at 8 bits (mixed), 4 like the rest (pure), or 8 in dynamic quantization "
    "(mixed-dynamic: faster for batches and prompts).",
)
@_recipe_option("int8", "weight-only blocks, or dynamic quantization (faster for batches and prompts, less exact).")
@click.option("--portable-only", is_flag=True, help="Only the portable graph (standard ops; TensorRT, GenAI).")
@_allow_other_model_option
def export(
    model, prefixes, mode, opset, output, force, precisions, int4_recipe, int8_recipe, portable_only, allow_other_model
):
    """Export MODEL with its prefixes to a bundle directory."""
    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    if portable_only and precisions:
        raise PrefixDeployError("--portable-only and --precision exclude each other: choose one")
    precisions = () if portable_only else (precisions or ("fp32",))
    config = ExportConfig(
        model,
        prefixes,
        output,
        mode=mode,
        opset=opset,
        force=force,
        precisions=precisions,
        allow_other_model=allow_other_model,
        int4_recipe=int4_recipe,
        int8_recipe=int8_recipe,
    )
    path = export_bundle(config)
    click.echo(f"wrote {path} ({mode}, {len(prefixes)} prefix{'es' if len(prefixes) != 1 else ''})")


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(BACKENDS), default=BACKENDS[0], show_default=True)
@_provider_option
@click.option("--precision", type=click.Choice(PRECISIONS), default=None, help="Run the graph of this precision.")
@click.option("--atol", type=float, default=1e-2, show_default=True, help="Max |Δ logits| allowed (fp32 runs).")
def check(bundle, backend, provider, precision, atol):
    """Replay the reference cases stored in BUNDLE at export (no torch needed); exit 1 if an fp32 run differs."""
    from prefixdeploy.runtime.checks import CheckConfig, format_report, run_checks

    config = CheckConfig(bundle=bundle, backend=backend, provider=provider, precision=precision, atol=atol)
    report = run_checks(config)
    click.echo(format_report(report))
    if not report.ok:
        click.echo("check: the bundle does not reproduce its reference cases here", err=True)
        sys.exit(1)


@main.command("import-prefix")
@click.argument("source", metavar="SRC")
@click.option("--model", required=True, help="The model the prefix was tuned on.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Prefix .safetensors to write.")
@click.option("--name", default=None, help="Task name (default: the source's file stem or directory name).")
@_allow_other_model_option
def import_prefix(source, model, output, name, allow_other_model):
    """Convert a PEFT adapter, Li & Liang or P-Tuning v2 checkpoint into a prefix file."""
    from prefixdeploy.importers.convert import ImportConfig, import_prefix_file

    config = ImportConfig(
        source=Path(source), model=model, output=output, name=name, allow_other_model=allow_other_model
    )
    prefix = import_prefix_file(config)
    click.echo(
        f"wrote {output}: prefix {prefix.name!r}, {prefix.num_virtual_tokens} virtual tokens, {prefix.model.geometry()}"
    )


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--model", required=True, help="The model the bundle was exported from.")
@click.option("--prompt", "prompts", multiple=True, help="Prompt to compare on; repeat for more.")
@click.option("--new-tokens", type=int, default=32, show_default=True)
@click.option(
    "--atol",
    type=float,
    default=1e-2,
    show_default=True,
    help="Max |Δ logits| allowed (fp32 graphs; see docs/correctness.md).",
)
@click.option("--text", "text_file", type=click.Path(path_type=Path), default=None, help="Perplexity sample (file).")
def verify(bundle, model, prompts, new_tokens, atol, text_file):
    """Compare every graph of BUNDLE with the PyTorch reference for every prefix; exit 1 if an fp32 graph differs.

    Quantized graphs report their greedy agreement with fp32 and their perplexity change.
    """
    from prefixdeploy.exporter.verify import VerifyConfig, format_rows, verify_bundle
    from prefixdeploy.exporter.verify_data import DEFAULT_PROMPTS

    text = {"text": read_text_file(text_file)} if text_file else {}
    config = VerifyConfig(
        bundle, model, prompts=tuple(prompts) or DEFAULT_PROMPTS, new_tokens=new_tokens, atol=atol, **text
    )
    rows = verify_bundle(config)
    click.echo(format_rows(rows, atol))
    if any(r.ok(atol) is False for r in rows):
        click.echo("verify: the bundle does not match the reference", err=True)
        sys.exit(1)


@main.command()
@click.option("--model", required=True, help="Hub id, local model directory, or .gguf file (kept frozen).")
@click.option(
    "--data", required=True, type=click.Path(path_type=Path), help="Training JSONL (input/output or messages)."
)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="Prefix .safetensors to write.")
@click.option("--name", default=None, help="Task name stored in the prefix (default: the output's file stem).")
@click.option(
    "--prefix-length",
    "num_virtual_tokens",
    type=int,
    default=16,
    show_default=True,
    help="P, PEFT's num_virtual_tokens.",
)
@click.option(
    "--projection/--no-projection",
    "prefix_projection",
    default=True,
    show_default=True,
    help="Reparameterize the prefix through an MLP while training (Li & Liang).",
)
@click.option("--encoder-hidden-size", type=int, default=512, show_default=True, help="The MLP's hidden width.")
@click.option("--lr", type=float, default=5e-4, show_default=True)
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--batch-size", type=int, default=8, show_default=True)
@click.option("--max-length", type=int, default=256, show_default=True, help="Longest record in tokens.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--validation", type=click.Path(path_type=Path), default=None, help="Validation JSONL.")
@click.option("--validation-split", type=float, default=0.0, show_default=True, help="Or hold out this fraction.")
@click.option("--patience", type=int, default=0, show_default=True, help="Early stopping (0: off).")
@click.option(
    "--eval-steps",
    type=int,
    default=0,
    show_default=True,
    help="Also evaluate and checkpoint every N steps (0: at epoch ends only).",
)
@click.option("--warmup-steps", type=int, default=0, show_default=True, help="Linear warmup from 0.")
@click.option(
    "--lr-schedule",
    type=click.Choice(["constant", "linear"]),
    default="constant",
    show_default=True,
    help="After warmup; linear decays to 0 at the last step.",
)
@click.option("--weight-decay", type=float, default=0.0, show_default=True)
@click.option("--max-grad-norm", type=float, default=1.0, show_default=True, help="Gradient clipping (0: off).")
@click.option("--save-peft", type=click.Path(path_type=Path), default=None, help="Also write a PEFT adapter here.")
@click.option("--checkpoint-dir", type=click.Path(path_type=Path), default=None, help="Write resumable checkpoints.")
@click.option("--resume", is_flag=True, default=False, help="Continue from the checkpoint in --checkpoint-dir.")
def train(**options):
    """Train a prefix for MODEL on a JSONL file (prefix tuning; the model stays frozen)."""
    from prefixdeploy.training.config import TrainConfig
    from prefixdeploy.training.loop import train_prefix

    click.echo(train_prefix(TrainConfig(**options)).summary())


SERVE_EXTRA_MODULES = {"fastapi", "starlette", "uvicorn", "prometheus_client", "jinja2", "pydantic"}


@main.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", type=int, default=8000, show_default=True, help="Port (0: any free port; the log names it).")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Serve the bundle's graph of this weight precision (default: its first).",
)
@click.option(
    "--batch-precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Also load the graph of this precision for prompts and multi-row decode steps (e.g. int4 with int8 dynamic).",
)
@engine_options
@click.option(
    "--mixed-steps/--no-mixed-steps",
    default=False,
    show_default=True,
    help="Prefill a prompt chunk and decode the other rows in one forward, on the bundle's mixed-step graph: faster "
    "fp32 serving under load, at the memory of another session of the same weights.",
)
@_prompt_lookup_option(0, "Greedy requests alone in the batch draft up to K tokens per step by prompt lookup.")
@click.option(
    "--lookup-history",
    type=int,
    default=0,
    show_default=True,
    metavar="N",
    help="With --prompt-lookup: also draft from the last N greedy answers of the same model (prefix).",
)
@click.option(
    "--prompt-cache/--no-prompt-cache",
    default=True,
    show_default=True,
    help="Keep finished requests' tokens in free rows; a prompt that starts the same way (same model) prefills only "
    "the rest (llama.cpp's cache_prompt, vLLM's prefix caching).",
)
@click.option(
    "--enable-prompt-tokens-details",
    "prompt_tokens_details",
    is_flag=True,
    default=False,
    help="Report usage.prompt_tokens_details.cached_tokens: the prompt tokens the prompt cache held (vLLM's flag; "
    "off by default: without a cache_salt it tells a client what others sent, docs/serving-security.md).",
)
@click.option("--max-model-len", type=int, default=None, help="Tokens per row: prefix + prompt + new tokens.")
@click.option("--max-tokens-limit", type=int, default=2048, show_default=True, help="Largest max_tokens accepted.")
@click.option("--request-timeout", type=float, default=600.0, show_default=True, help="Seconds; then 'abort'.")
@click.option("--shutdown-timeout", type=float, default=30.0, show_default=True, help="Seconds to drain on SIGTERM.")
@click.option("--max-body-bytes", type=int, default=2 * 1024 * 1024, show_default=True, help="Larger bodies: 413.")
@click.option(
    "--allow-runtime-prefixes",
    type=click.Path(path_type=Path),
    default=None,
    metavar="DIR",
    help="Let POST /v1/prefixes load .safetensors prefixes from DIR (and DELETE unload them).",
)
@click.option("--served-model-name", default=None, help="The base model's id (default: from the bundle's manifest).")
@click.option("--ui/--no-ui", default=True, show_default=True, help="Serve the playground page at /.")
@_provider_option
@key_and_limit_options
@ray_options
def serve(bundle, **options):
    """Serve BUNDLE over an OpenAI-compatible HTTP API; `model` picks the prefix per request."""
    from prefixdeploy.serving.http.config import ServeConfig

    on_ray, ray_address, ray_fields = pop_ray_options(options)
    config = ServeConfig(bundle=bundle, **options)
    if on_ray:
        serve_on_ray(config, ray_address, ray_fields)
        return
    try:
        from prefixdeploy.serving.http.server import serve as run_server
    except ImportError as e:
        if (e.name or "").split(".")[0] not in SERVE_EXTRA_MODULES:
            raise
        raise PrefixDeployError(
            f"serve needs the serve extra ({e.name} is missing): pip install 'prefixdeploy[serve]'"
        ) from None
    run_server(config)


for _command in (run, bench, *PREFIX_COMMANDS, *SCALE_COMMANDS):
    main.add_command(_command)
