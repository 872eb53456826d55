"""Click options that several `prefixdeploy` commands share."""

from __future__ import annotations

import click

from prefixdeploy.vocabulary import PROVIDERS

provider_option = click.option(
    "--provider",
    type=click.Choice(PROVIDERS),
    default=PROVIDERS[0],
    show_default=True,
    help="ONNX Runtime execution provider (cuda, tensorrt: onnxruntime-gpu); TensorRT takes the portable graph.",
)

allow_other_model_option = click.option(
    "--allow-other-model",
    is_flag=True,
    help="Import a prefix whose source names another model of the same KV shape (a warning, not an error).",
)


def prompt_lookup_option(default: int, help: str):
    """`--prompt-lookup K`: `run` and `serve` draft up to K tokens (0: off); `bench` times it."""
    return click.option("--prompt-lookup", type=int, default=default, show_default=True, metavar="K", help=help)
