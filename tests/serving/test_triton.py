"""`prefixdeploy triton-repo`: config.pbtxt parsed with Triton's real protobuf schema (tritonclient's
model_config_pb2), and the generated 1/model.py run over the real engine against a STAND-IN for
`triton_python_backend_utils` (tests/serving/triton_stand_in.py; Triton itself cannot run here)."""

from __future__ import annotations

import importlib.util
import json
import sys
import time

import numpy as np
import pytest
import triton_stand_in as pb_utils
from click.testing import CliRunner
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
from user_errors import assert_user_error

from prefixdeploy.cli import main

PROMPT = "the quick brown fox"
FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


@pytest.fixture(scope="module")
def triton_repo(served_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("model_repository")
    result = CliRunner().invoke(main, ["triton-repo", str(served_bundle), "-o", str(out), "--instances", "2"])
    assert result.exit_code == 0, result.output
    return out / "prefixdeploy"


def parsed_config(model_dir) -> model_config_pb2.ModelConfig:
    return text_format.Parse((model_dir / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_config_pbtxt_parses_with_tritons_schema(triton_repo, served_bundle):
    config = parsed_config(triton_repo)
    assert (config.name, config.backend, config.max_batch_size) == ("prefixdeploy", "python", 0)
    assert config.model_transaction_policy.decoupled
    inputs = {i.name: i for i in config.input}
    assert list(inputs) == ["text_input", "prefix", "max_tokens", "temperature", "top_p", "seed", "stream"]
    assert not inputs["text_input"].optional and all(i.optional for n, i in inputs.items() if n != "text_input")
    assert inputs["text_input"].data_type == model_config_pb2.TYPE_STRING
    assert inputs["stream"].data_type == model_config_pb2.TYPE_BOOL
    assert [(o.name, o.data_type) for o in config.output] == [("text_output", model_config_pb2.TYPE_STRING)]
    group = config.instance_group[0]
    assert (group.count, group.kind) == (2, model_config_pb2.ModelInstanceGroup.KIND_CPU)
    assert config.parameters["bundle"].string_value == str(served_bundle.resolve())
    assert (triton_repo / "1" / "model.py").is_file()


@pytest.fixture(scope="module")
def triton_model(triton_repo):
    """The generated 1/model.py, initialized as Triton would (model_config as JSON), over the stand-in utils."""
    saved = sys.modules.get("triton_python_backend_utils")
    sys.modules["triton_python_backend_utils"] = pb_utils
    try:
        spec = importlib.util.spec_from_file_location("triton_generated_model", triton_repo / "1" / "model.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.TritonPythonModel()
        config = json_format.MessageToDict(parsed_config(triton_repo), preserving_proto_field_name=True)
        model.initialize({"model_config": json.dumps(config)})
        yield model
        model.finalize()
    finally:
        if saved is None:
            sys.modules.pop("triton_python_backend_utils", None)
        else:
            sys.modules["triton_python_backend_utils"] = saved


def request(prompt: str = PROMPT, prefix: str | None = None, stream: bool = False, cancel_after=None, **sampling):
    inputs = {"text_input": np.array([prompt.encode()], dtype=np.object_), "stream": np.array([stream])}
    if prefix is not None:
        inputs["prefix"] = np.array([prefix.encode()], dtype=np.object_)
    kinds = {"max_tokens": np.int32, "temperature": np.float32, "top_p": np.float32, "seed": np.uint64}
    inputs |= {name: np.array([value], dtype=kinds[name]) for name, value in sampling.items()}
    return pb_utils.InferenceRequest(inputs, pb_utils.ResponseSender(cancel_after))


def answers(model, *requests) -> list[list[tuple]]:
    """Run the requests in one execute call (as one Triton batch); each request's (text or error, flags) in order."""
    assert model.execute(list(requests)) is None  # decoupled: everything goes through the senders
    out = []
    for r in requests:
        sender = r.get_response_sender()
        assert sender.finished.wait(60), "no final flag within 60 s"
        out.append([(_content(response), flags) for response, flags in sender.sent])
    return out


def _content(response):
    if response is None:
        return None
    if response.has_error():
        return ("error", response.error().message())
    return pb_utils.get_output_tensor_by_name(response, "text_output").as_numpy()[0].decode()


def test_mixed_prefixes_stream_one_response_per_token_and_equal_run(triton_model, reference):
    cases = [("summ", True), ("qa", False), (None, True), ("qa", True), (None, False)]
    requests = [request(prefix=p, stream=s, max_tokens=12, temperature=0.0) for p, s in cases]
    for (prefix, stream), got in zip(cases, answers(triton_model, *requests)):
        want = reference(reference.bundle.encode(PROMPT), prefix, 12)
        text = reference.bundle.codec.decode(want)
        assert [flags for _, flags in got] == [0] * (len(got) - 1) + [FINAL]  # the final flag once, on the last
        assert "".join(piece for piece, _ in got) == text
        assert len(got) == (len(want) if stream else 1)


def test_a_cancelled_request_stops_and_ends_with_the_final_flag_alone(triton_model):
    [got] = answers(triton_model, request(stream=True, cancel_after=3, max_tokens=60, temperature=0.0))
    assert len(got) == 4 and got[-1] == (None, FINAL) and all(flags == 0 for _, flags in got[:-1])
    deadline = time.monotonic() + 10
    while triton_model.engine.running and time.monotonic() < deadline:  # the row is dropped at the next step
        time.sleep(0.01)
    assert triton_model.engine.running == 0


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"prefix": "nope"}, "nope"),
        ({"max_tokens": 100000}, "exceeds the context"),
        ({"top_p": 0.0}, "top_p"),
    ],
)
def test_bad_requests_get_one_error_response_with_the_final_flag(triton_model, kwargs, needle):
    bad, good = answers(triton_model, request(**kwargs), request(max_tokens=3))
    [(content, flags)] = bad
    assert content[0] == "error" and needle in content[1] and flags == FINAL
    assert good[-1][1] == FINAL and isinstance(good[-1][0], str)  # its neighbour in the batch is unaffected


def test_the_graph_options_become_parameters_the_model_loads_with(served_bundle, tmp_path):
    args = ["triton-repo", str(served_bundle), "-o", str(tmp_path), "--precision", "int4", "--batch-precision", "int8"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    parameters = parsed_config(tmp_path / "prefixdeploy").parameters
    assert (parameters["precision"].string_value, parameters["batch_precision"].string_value) == ("int4", "int8")
    model = (tmp_path / "prefixdeploy" / "1" / "model.py").read_text()
    assert 'batch_precision=parameters.get("batch_precision")' in model  # load_bundle(...) of the generated model


def test_triton_repo_refuses_an_existing_model_and_a_non_bundle(triton_repo, tmp_path):
    result = CliRunner().invoke(main, ["triton-repo", str(triton_repo.parent), "-o", str(triton_repo.parent)])
    assert_user_error(result.exit_code, result.stderr, "not a bundle")
    bundle = parsed_config(triton_repo).parameters["bundle"].string_value
    again = CliRunner().invoke(main, ["triton-repo", bundle, "-o", str(triton_repo.parent)])
    assert_user_error(again.exit_code, again.stderr, "already exists")
    assert sorted(p.name for p in triton_repo.parent.iterdir()) == ["prefixdeploy"]  # nothing half-written
