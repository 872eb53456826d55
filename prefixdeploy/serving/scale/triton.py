"""A Triton Inference Server model repository for a bundle: `config.pbtxt` and a python-backend `1/model.py`.

`write_triton_repo` builds the model configuration as Triton's own protobuf message (`tritonclient`'s
`model_config_pb2`, the schema Triton parses `config.pbtxt` with), writes it in protobuf text format, and copies
`triton_model.py` as `1/model.py` (a `TritonPythonModel` over the serving engine; Triton runs it with
`prefixdeploy` installed in its python environment). The model is decoupled, so a streaming request gets one
response per token. The repository is written beside its final place and renamed in: never half-written.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError, PrefixDeployError
from prefixdeploy.runtime.manifest import read_manifest
from prefixdeploy.runtime.prefix import check_prefix_name
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS

log = logging.getLogger(__name__)

MODEL_SOURCE = Path(__file__).with_name("triton_model.py")
KINDS = ("cpu", "gpu")
# (name, Triton data type, optional): what `1/model.py` reads; every input is one element (dims [1])
INPUTS = (
    ("text_input", "TYPE_STRING", False),
    ("prefix", "TYPE_STRING", True),  # a prefix name; absent or "": the base model (a baked bundle: its prefix)
    ("max_tokens", "TYPE_INT32", True),
    ("temperature", "TYPE_FP32", True),
    ("top_p", "TYPE_FP32", True),
    ("seed", "TYPE_UINT64", True),
    ("stream", "TYPE_BOOL", True),
)
OUTPUT = ("text_output", "TYPE_STRING")


@dataclass(frozen=True, kw_only=True)
class TritonRepoConfig:
    bundle: Path
    output: Path  # the model repository (created if missing); the model goes in output/name
    name: str = "prefixdeploy"  # Triton's model name
    instances: int = 1  # model instances (each loads the bundle and runs its own engine)
    kind: str = "cpu"  # cpu | gpu: the instance group's kind (gpu: the bundle's graph needs the CUDA provider)
    max_num_seqs: int = ENGINE_DEFAULTS.max_num_seqs  # rows each instance's engine decodes at once
    precision: str | None = None  # which of the bundle's graphs (None: its first)
    batch_precision: str | None = None  # another graph for prompts and multi-row decode steps (load_bundle)

    def __post_init__(self):
        try:
            check_prefix_name(self.name)  # a directory name Triton accepts
        except PrefixDeployError:
            raise ConfigError(f"name {self.name!r}: use letters, digits, '_', '.', '-'", "name") from None
        if self.instances < 1:
            raise ConfigError(f"instances must be at least 1, got {self.instances}", "instances")
        if self.max_num_seqs < 1:
            raise ConfigError(f"max_num_seqs must be at least 1, got {self.max_num_seqs}", "max_num_seqs")
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}", "kind")


def model_config_text(config: TritonRepoConfig) -> str:
    """`config.pbtxt`: Triton's ModelConfig message in protobuf text format."""
    from google.protobuf import text_format

    message = model_config(config)
    return text_format.MessageToString(message)


def model_config(config: TritonRepoConfig):
    """The ModelConfig protobuf message (python backend, decoupled, no Triton batching: the engine batches)."""
    pb = _schema()
    message = pb.ModelConfig(name=config.name, backend="python", max_batch_size=0)
    for name, data_type, optional in INPUTS:
        message.input.add(name=name, data_type=pb.DataType.Value(data_type), dims=[1], optional=optional)
    message.output.add(name=OUTPUT[0], data_type=pb.DataType.Value(OUTPUT[1]), dims=[1])
    kind = pb.ModelInstanceGroup.Kind.Value(f"KIND_{config.kind.upper()}")
    message.instance_group.add(count=config.instances, kind=kind)
    message.model_transaction_policy.decoupled = True
    parameters = {
        "bundle": str(Path(config.bundle).resolve()),
        "max_num_seqs": str(config.max_num_seqs),
        "provider": "cuda" if config.kind == "gpu" else "cpu",  # ONNX Runtime's execution provider
    }
    for name in ("precision", "batch_precision"):
        if getattr(config, name):
            parameters[name] = getattr(config, name)
    for key, value in parameters.items():
        message.parameters[key].string_value = value
    return message


def write_triton_repo(config: TritonRepoConfig) -> Path:
    """Write output/name/{config.pbtxt, 1/model.py}; returns the model's directory."""
    manifest = read_manifest(config.bundle)  # not a bundle: fails here, before anything is written
    if not any(g.kind == "ort" for g in manifest.graphs):
        raise PrefixDeployError(
            f"{Path(config.bundle).name} has no ONNX Runtime graph, which the serving engine needs; re-export it "
            "with --precision fp32, int8 or int4"
        )
    target = Path(config.output) / config.name
    if target.exists():
        raise ConfigError(f"{target} already exists; remove it or choose another name", "name")
    text = model_config_text(config)
    Path(config.output).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{config.name}-", dir=config.output))
    try:
        (staging / "config.pbtxt").write_text(text)
        (staging / "1").mkdir()
        shutil.copyfile(MODEL_SOURCE, staging / "1" / "model.py")
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("wrote Triton model %r to %s", config.name, target)
    return target


def _schema():
    try:
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        raise PrefixDeployError(
            "triton-repo writes config.pbtxt with Triton's schema from tritonclient: pip install 'prefixdeploy[triton]'"
        ) from None
    return model_config_pb2
