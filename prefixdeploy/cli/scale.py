"""Scale-out commands: `serve --ray` (its options, added to `serve` by `prefixdeploy.cli`) and `triton-repo`.

Like every command, each imports its work lazily: Ray and tritonclient load only when asked for, and a missing
extra is a one-line error naming it (`serving.ray_config`, imported here, needs the standard library only).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS
from prefixdeploy.serving.scale.ray_config import RayServeConfig, with_engine_queue  # the standard library only
from prefixdeploy.vocabulary import PRECISIONS

RAY_FIELDS = (
    "replicas",
    "min_replicas",
    "max_replicas",
    "prefix_store",
    "max_prefixes_per_replica",
    "max_ongoing_requests",
    "max_queued_requests",
)
RAY_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RayServeConfig) if f.name in RAY_FIELDS}
_RAY_OPTIONS = (
    click.option("--ray", "ray", is_flag=True, help="Serve on Ray Serve: one engine per replica, prefix-affine."),
    click.option("--ray-address", default=None, metavar="ADDR", help="--ray: join this cluster (default: start one)."),
    click.option("--replicas", type=int, default=None, help="--ray: a fixed number of replicas (default 1)."),
    click.option("--min-replicas", type=int, default=None, help="--ray: autoscale from this many ..."),
    click.option("--max-replicas", type=int, default=None, help="--ray: ... to this many."),
    click.option(
        "--prefix-store",
        type=click.Path(path_type=Path),
        default=None,
        metavar="DIR",
        help="--ray: serve every NAME.safetensors prefix in DIR too (loaded on first use, per replica).",
    ),
    *(
        click.option(f"--{name.replace('_', '-')}", type=int, default=RAY_DEFAULTS[name], show_default=True, help=text)
        for name, text in (
            ("max_prefixes_per_replica", "--ray: store prefixes a replica keeps in memory (least recently used out)."),
            ("max_ongoing_requests", "--ray: requests one replica runs at once."),
            ("max_queued_requests", "--ray: requests waiting for a replica; more are 503 (-1: no limit)."),
        )
    ),
)


def ray_options(command):
    """Add the --ray options to the `serve` command."""
    for option in reversed(_RAY_OPTIONS):
        command = option(command)
    return command


def pop_ray_options(options: dict) -> tuple[bool, str | None, dict]:
    """Take the --ray options out of `serve`'s: (asked for Ray, its address, the RayServeConfig fields)."""
    ray, address = options.pop("ray"), options.pop("ray_address")
    fields = {name: options.pop(name) for name in RAY_FIELDS}
    if not ray:
        given = [f"--{n.replace('_', '-')}" for n, v in fields.items() if v is not None and v != RAY_DEFAULTS.get(n)]
        if address is not None:
            given.insert(0, "--ray-address")
        if given:
            raise PrefixDeployError(f"{', '.join(given)} need --ray")
    return ray, address, fields


def serve_on_ray(serve_config, address: str | None, fields: dict) -> None:
    """`prefixdeploy serve --ray`: start (or join) Ray, run the application, serve until a signal."""
    config = with_engine_queue(RayServeConfig(serve=serve_config, **fields))
    try:
        from prefixdeploy.serving.scale.ray import run_until_signal
    except ImportError as e:
        if (e.name or "").split(".")[0] != "ray":
            raise
        raise PrefixDeployError("serve --ray needs Ray Serve: pip install 'prefixdeploy[ray]'") from None
    run_until_signal(config, address)


@click.command("triton-repo")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path), help="The model repository.")
@click.option("--name", default="prefixdeploy", show_default=True, help="The model's name in the repository.")
@click.option("--instances", type=int, default=1, show_default=True, help="Model instances (each runs an engine).")
@click.option("--kind", type=click.Choice(["cpu", "gpu"]), default="cpu", show_default=True, help="Instance kind.")
@click.option(
    "--max-num-seqs",
    type=int,
    default=ENGINE_DEFAULTS.max_num_seqs,
    show_default=True,
    help="Rows each engine decodes at once.",
)
@click.option("--precision", type=click.Choice(PRECISIONS), default=None, help="Which graph.")
@click.option(
    "--batch-precision",
    type=click.Choice(PRECISIONS),
    default=None,
    help="Also load this precision's graph for prompts and multi-row decode steps.",
)
def triton_repo(bundle, **options):
    """Write a Triton Inference Server model (python backend, decoupled) serving BUNDLE."""
    from prefixdeploy.serving.scale.triton import TritonRepoConfig, write_triton_repo

    model_dir = write_triton_repo(TritonRepoConfig(bundle=bundle, **options))
    click.echo(f"wrote {model_dir / 'config.pbtxt'} and {model_dir / '1' / 'model.py'}")


SCALE_COMMANDS = (triton_repo,)
