"""The backend surface shared by ONNX Runtime and TensorRT: a context manager that runs `feeds -> outputs`.

Feed checking (names, dtypes, ranks, fixed dims) lives here, once. Must not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: np.dtype
    shape: tuple[int | str | None, ...]  # ints are fixed; str/None are dynamic axes


class Backend:
    """Owns a session or engine. Subclasses set `inputs`/`outputs` and implement `_run` and `close`."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Every output of the graph for `feeds` (checked against the inputs first)."""
        self.check_feeds(feeds)
        return self._run(feeds)

    def _run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def check_feeds(self, feeds: dict[str, np.ndarray]) -> None:
        check_feeds(self.inputs, feeds)

    def input_names(self) -> set[str]:
        return {spec.name for spec in self.inputs}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_feeds(inputs: list[TensorSpec], feeds: dict[str, np.ndarray]) -> None:
    """Raise ValueError unless `feeds` are exactly `inputs` by name, dtype, rank and fixed dims."""
    want = {spec.name: spec for spec in inputs}
    missing, unexpected = sorted(set(want) - set(feeds)), sorted(set(feeds) - set(want))
    if missing or unexpected:
        raise ValueError(f"missing inputs: {missing}; unexpected: {unexpected}")
    for name, value in feeds.items():
        spec = want[name]
        if value.dtype != spec.dtype:
            raise ValueError(f"input {name}: expected dtype {spec.dtype}, got {value.dtype}")
        if value.ndim != len(spec.shape) or any(isinstance(d, int) and d != n for d, n in zip(spec.shape, value.shape)):
            raise ValueError(f"input {name}: expected shape {spec.shape}, got {value.shape}")
