"""Triton python-backend model over the serving engine: `prefixdeploy triton-repo` copies this file as `1/model.py`.

Decoupled: each request is answered from its own thread through its response sender, so requests of any prefixes
decode together in the engine's batch. A streaming request (`stream` true) gets one response per generated token
(text safe to show so far; may be empty inside a multi-byte character), a non-streaming one a single response with
the whole text; the last response carries the final flag, sent exactly once. A cancelled request (the client went
away) is aborted in the engine and closed with the final flag alone. Bad input is an error response, never a crash.
`triton_python_backend_utils` exists only inside Triton's python backend; this module is imported there.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from typing import NamedTuple

import numpy as np
import triton_python_backend_utils as pb_utils

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.prefix import Prefix
from prefixdeploy.serving.engine.config import ENGINE_DEFAULTS
from prefixdeploy.serving.engine.engine import Engine, EngineConfig, SamplingParams
from prefixdeploy.serving.http.detokenize import ChoiceText

log = logging.getLogger(__name__)

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
SHUTDOWN_TIMEOUT = 10.0  # seconds running requests get to finish when Triton unloads the model


class TritonJob(NamedTuple):  # not a dataclass: Triton may load this file without registering it in sys.modules
    prompt_ids: list[int]
    prefix: Prefix | None
    params: SamplingParams
    stream: bool


class TritonPythonModel:
    def initialize(self, args: dict) -> None:
        model_config = json.loads(args["model_config"])
        if not pb_utils.using_decoupled_model_transaction_policy(model_config):
            raise pb_utils.TritonModelException("this model streams: its config.pbtxt must set decoupled: true")
        parameters = {k: v["string_value"] for k, v in model_config.get("parameters", {}).items()}
        self.bundle = load_bundle(
            parameters["bundle"],
            precision=parameters.get("precision") or None,
            provider=parameters.get("provider", "cpu"),
            batch_precision=parameters.get("batch_precision") or None,
        )
        engine_config = EngineConfig(max_num_seqs=int(parameters.get("max_num_seqs", ENGINE_DEFAULTS.max_num_seqs)))
        self.engine = Engine(self.bundle, engine_config)
        self.engine.start()

    def execute(self, requests: list) -> None:
        for request in requests:
            threading.Thread(target=self._answer, args=(request,), name="prefixdeploy-triton", daemon=True).start()
        return None  # decoupled: responses go through each request's sender

    def finalize(self) -> None:
        self.engine.shutdown(SHUTDOWN_TIMEOUT)
        self.bundle.close()

    def _answer(self, request) -> None:
        sender = request.get_response_sender()
        try:
            job = read_job(request, self.bundle)
            events = self.engine.submit_sync(job.prompt_ids, job.prefix, job.params)
        except (PrefixDeployError, ValueError, UnicodeDecodeError) as e:
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(e))), flags=FINAL)
            return
        try:
            self._stream_text(events, job.stream, sender)
        except Exception as e:  # a bug of ours: the request still ends, with its final flag
            log.exception("request failed")
            sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(f"internal error: {e}")), flags=FINAL)

    def _stream_text(self, events, stream: bool, sender) -> None:
        text, whole = ChoiceText(self.bundle.codec.tokenizer, []), []
        with contextlib.closing(events):  # an unfinished request is aborted on the way out
            for event in events:
                if sender.is_cancelled():
                    sender.send(flags=FINAL)  # closing the events aborts the engine row
                    return
                last = event.finish_reason is not None
                piece = "" if event.finish_reason == "abort" else text.add(event.token_id)
                piece += text.flush() if last else ""
                if stream:
                    sender.send(text_response(piece), flags=FINAL if last else 0)
                else:
                    whole.append(piece)
                if last:
                    break
        if not stream:
            sender.send(text_response("".join(whole)), flags=FINAL)


def read_job(request, bundle) -> TritonJob:
    """The request's inputs (each one element; absent optional ones take SamplingParams' defaults)."""
    text = _scalar(request, "text_input")
    if text is None:
        raise PrefixDeployError("text_input is required")
    name = _text(_scalar(request, "prefix") or b"")
    prefix = bundle.resolve(name) if name else None
    sampling = {}
    for field, kind in (("max_tokens", int), ("temperature", float), ("top_p", float), ("seed", int)):
        value = _scalar(request, field)
        if value is not None:
            sampling[field] = kind(value)
    stream = _scalar(request, "stream")
    return TritonJob(bundle.encode(_text(text), prefix=prefix), prefix, SamplingParams(**sampling), bool(stream))


def text_response(text: str):
    return pb_utils.InferenceResponse(
        output_tensors=[pb_utils.Tensor("text_output", np.array([text.encode()], dtype=np.object_))]
    )


def _scalar(request, name: str):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return None
    values = tensor.as_numpy().reshape(-1)  # (1,)
    if values.size != 1:
        raise PrefixDeployError(f"{name} must hold one element, got {values.size}")
    return values[0].item() if isinstance(values[0], np.generic) else values[0]


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)
