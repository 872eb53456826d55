"""Inference backends behind one small surface: `feeds -> outputs`. Must not import torch."""

from prefixdeploy.runtime.backends.base import Backend, TensorSpec
from prefixdeploy.vocabulary import BACKENDS


def open_backend(kind: str, model_path, **options) -> Backend:
    """Build the session (ort) or engine (trt) for the ONNX file at `model_path`."""
    if kind == "ort":
        from prefixdeploy.runtime.backends.ort import OrtBackend

        return OrtBackend(model_path, **options)
    if kind == "trt":
        from prefixdeploy.runtime.backends.trt import TrtBackend

        return TrtBackend(model_path, **options)
    raise ValueError(f"unknown backend {kind!r}; expected one of {BACKENDS}")


__all__ = ["Backend", "TensorSpec", "open_backend", "BACKENDS"]
