"""A STAND-IN for Triton's `triton_python_backend_utils` — not Triton, and not tested against it.

Only the calls `1/model.py` makes, with the names and signatures of Triton's python backend (r23.10+: decoupled
response senders with `is_cancelled()`), so the generated model file runs here where Triton cannot. The sender
records what the model sends and refuses anything after the final flag, as Triton does.
"""

from __future__ import annotations

import threading

import numpy as np

TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1


class TritonModelException(Exception):
    pass


class TritonError:
    def __init__(self, message: str):
        self._message = message

    def message(self) -> str:
        return self._message


class Tensor:
    def __init__(self, name: str, array: np.ndarray):
        self._name, self._array = name, array

    def name(self) -> str:
        return self._name

    def as_numpy(self) -> np.ndarray:
        return self._array


class InferenceResponse:
    def __init__(self, output_tensors: list[Tensor] | None = None, error: TritonError | None = None):
        self._tensors, self._error = output_tensors or [], error

    def output_tensors(self) -> list[Tensor]:
        return self._tensors

    def has_error(self) -> bool:
        return self._error is not None

    def error(self) -> TritonError | None:
        return self._error


class ResponseSender:
    """Records (response, flags); `cancel_after`: report the request cancelled once that many responses were sent."""

    def __init__(self, cancel_after: int | None = None):
        self.sent: list[tuple[InferenceResponse | None, int]] = []
        self.finished = threading.Event()
        self.cancel_after = cancel_after

    def send(self, response: InferenceResponse | None = None, flags: int = 0) -> None:
        if self.finished.is_set():
            raise TritonModelException("a response was sent after the final flag")
        self.sent.append((response, flags))
        if flags & TRITONSERVER_RESPONSE_COMPLETE_FINAL:
            self.finished.set()

    def is_cancelled(self) -> bool:
        return self.cancel_after is not None and len(self.sent) >= self.cancel_after


class InferenceRequest:
    def __init__(self, inputs: dict[str, np.ndarray], sender: ResponseSender | None = None):
        self._inputs = {name: Tensor(name, array) for name, array in inputs.items()}
        self._sender = sender or ResponseSender()

    def get_response_sender(self) -> ResponseSender:
        return self._sender


def get_input_tensor_by_name(request: InferenceRequest, name: str) -> Tensor | None:
    return request._inputs.get(name)


def get_output_tensor_by_name(response: InferenceResponse, name: str) -> Tensor | None:
    return next((t for t in response.output_tensors() if t.name() == name), None)


def using_decoupled_model_transaction_policy(model_config: dict) -> bool:
    return bool(model_config.get("model_transaction_policy", {}).get("decoupled", False))
