"""ONNX Runtime backend: an InferenceSession behind the shared backend surface. Must not import torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime import manifest as io_names
from prefixdeploy.runtime.backends.base import Backend, TensorSpec, check_feeds
from prefixdeploy.runtime.backends.ort_kv import (
    HOST,
    Device,
    DeviceCopies,
    DeviceKV,
    HostKV,
    KVBuffer,
    Region,
    bind_region,
)

_DTYPES = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
    "tensor(int64)": np.dtype(np.int64),
    "tensor(int32)": np.dtype(np.int32),
    "tensor(bool)": np.dtype(np.bool_),
}


def _spec(arg) -> TensorSpec:
    return TensorSpec(arg.name, _DTYPES[arg.type], tuple(arg.shape))


def _check_started(wanted: list | None, started: list[str]) -> None:
    """ONNX Runtime retries on the CPU alone, with a logged warning, when a requested provider fails to start."""
    first = (wanted or ["CPUExecutionProvider"])[0]
    name = first[0] if isinstance(first, tuple) else first
    if name not in started:
        raise PrefixDeployError(
            f"ONNX Runtime could not start {name} and fell back to {', '.join(started)} (its log above says why: "
            "usually a missing CUDA, cuDNN or TensorRT library, or no GPU)"
        )


def _check_same_io(backend: OrtBackend, other: ort.InferenceSession, name: str, other_name: str) -> None:
    """A batch graph must take and give what the main graph does: the same KV buffers run through both."""
    mine = (backend.inputs, backend.outputs)
    theirs = ([_spec(a) for a in other.get_inputs()], [_spec(a) for a in other.get_outputs()])
    if mine != theirs:
        raise PrefixDeployError(f"{other_name} cannot run batches for {name}: their inputs or outputs differ")


# Where each provider keeps the tensors it computes: what device the in-place KV buffers are allocated on.
_DEVICES = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda"}


class OrtBackend(Backend):
    def __init__(
        self,
        model_path: str | Path,
        providers: list | None = None,
        threads: int = 0,
        device_kv: bool | None = None,
        batch_model: str | Path | None = None,
        mixed_model: str | Path | None = None,
    ):
        """providers: as onnxruntime takes them, names or (name, options) pairs, CPU last (see `providers`).

        device_kv: in-place KV buffers on the session's device (`ort_kv.DeviceKV`) rather than in host numpy
        (`HostKV`); None: on the device unless that is the CPU (where numpy copies slots faster).
        batch_model: a second graph of the same inputs and outputs that runs every call of more than one token (a
        prompt, or a decode step of several rows), the first graph running one row's decode step: e.g. int4
        weights in MatMulNBits for a lone stream, int8 dynamic (a GEMM that scales with rows) for the rest.
        mixed_model: the mixed-step twin (`exporter.optimize.mixed`) of the graph that runs batches: decode rows and
        one row's prompt chunk in one forward (`mixed_binding`).
        """
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads  # 0: one per physical core
        if batch_model is not None or mixed_model is not None:
            # Each session has its own threads, which spin a while after a run: on a few cores, the idle session's
            # spinning slowed the other's steps by up to 1.5x (a 16-row decode step: 36 -> 20 ms once stopped).
            options.add_session_config_entry("session.force_spinning_stop", "1")
        self.session = self._session(model_path, options, providers)
        self.inputs = [_spec(a) for a in self.session.get_inputs()]
        self.outputs = [_spec(a) for a in self.session.get_outputs()]
        self.batch_session = None if batch_model is None else self._session(batch_model, options, providers)
        if self.batch_session is not None:
            _check_same_io(self, self.batch_session, Path(model_path).name, Path(batch_model).name)
        self.mixed_session = None if mixed_model is None else self._session(mixed_model, options, providers)
        self.device_kv = device_kv
        self._copies: DeviceCopies | None = None

    @staticmethod
    def _session(path, options, providers) -> ort.InferenceSession:
        session = ort.InferenceSession(str(path), options, providers=providers or ["CPUExecutionProvider"])
        _check_started(providers, session.get_providers())
        return session

    def session_for(self, feeds: dict[str, np.ndarray]) -> ort.InferenceSession:
        """The batch session for a call of more than one token (rows × new tokens), if there is one."""
        if self.batch_session is not None and feeds[io_names.INPUT_IDS].size > 1:
            return self.batch_session
        return self.session

    def _run(self, feeds):
        names = [spec.name for spec in self.outputs]
        return dict(zip(names, self.session_for(feeds).run(names, feeds)))

    def close(self) -> None:
        self.session = self.batch_session = self.mixed_session = self._copies = None

    def binding(self) -> OrtBinding:
        """An IO binding for in-place KV buffers (see `OrtBinding`)."""
        return OrtBinding(self, [self.session] + ([self.batch_session] if self.batch_session is not None else []))

    def mixed_binding(self) -> OrtBinding:
        """An IO binding of the mixed-step twin (needs `mixed_model`): decode rows and a prompt chunk in one run."""
        return OrtBinding(self, [self.mixed_session])

    def kv_buffer(self, shape: tuple[int, ...], dtype: np.dtype) -> KVBuffer:
        """Zeroed memory for in-place KV slots, (L, 2, N, H_kv, S, D) of `dtype`: see `device_kv` and `ort_kv`."""
        on_device = self.device() != HOST if self.device_kv is None else self.device_kv
        if not on_device:
            return HostKV(shape, dtype)
        if self._copies is None:
            self._copies = DeviceCopies(self.device())
        return DeviceKV(self._copies, shape, dtype)

    def device(self) -> Device:
        """The device of the session's first provider (the CPU or a CUDA GPU)."""
        first = self.session.get_providers()[0]
        if first not in _DEVICES:
            raise PrefixDeployError(f"in-place KV buffers run on the CPU or CUDA provider, not on {first}")
        options = self.session.get_provider_options().get(first, {})
        return Device(_DEVICES[first], int(options.get("device_id", 0)))


class OrtBinding:
    """Runs a session with some inputs bound to caller-owned buffers that are also outputs (updated in place).

    The KV cache buffers stay bound across steps (`share`, by address: `ort_kv.Region`); only the small per-step
    inputs are rebound, from the host (`fed` records their bytes per run). The output (logits,
    (B, n, V): n = 1, `logits_to_keep` when the graph takes it, or the count of `logit_positions` in a mixed-step
    graph) is bound to a buffer of ours, one per shape: reading it back through `get_outputs()` would wrap every bound
    output (61 for 30 layers) on every step. `logits_to_keep` defaults to 1, so callers that want last-token logits
    need not feed it. With several sessions (the main graph and a batch graph), each run takes the backend's
    `session_for` its feeds.
    """

    def __init__(self, backend: OrtBackend, sessions: list[ort.InferenceSession], output: str = io_names.LOGITS):
        self.backend, self.output, self.sessions = backend, output, sessions
        self._ios = {id(session): _SessionIO(session, output) for session in sessions}
        self._inputs = [_spec(a) for a in sessions[0].get_inputs()]
        self._shared: dict[str, Region] = {}  # the caller keeps their memory alive while this binding lives
        self.fed: dict[str, int] = {}  # the last run's host inputs: name -> bytes
        self._checked = False
        self._spec = next(_spec(a) for a in sessions[0].get_outputs() if a.name == output)
        names = {spec.name for spec in self._inputs}
        self._defaults = {io_names.LOGITS_TO_KEEP: np.ones(1, np.int64)} if io_names.LOGITS_TO_KEEP in names else {}
        self._outs: dict[tuple[int, ...], tuple[np.ndarray, ort.OrtValue]] = {}  # shape -> a buffer for it

    @property
    def io(self) -> ort.IOBinding:
        """The first session's binding."""
        return self._ios[id(self.sessions[0])].io

    def share(self, input_name: str, output_name: str, region: Region) -> None:
        """Bind `region` as both the input and the output: the graph updates it in place."""
        for bound in self._ios.values():
            bind_region(bound.io, input_name, region)
            bind_region(bound.io, output_name, region, output=True)
        self._shared[input_name] = region

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        feeds = {**self._defaults, **feeds}
        if not self._checked:
            check_feeds(self._inputs, {**feeds, **self._shared})
            self._checked = True
        session = self.sessions[0] if len(self.sessions) == 1 else self.backend.session_for(feeds)
        bound = self._ios[id(session)]
        for name, value in feeds.items():
            bound.io.bind_cpu_input(name, value)
        self.fed = {name: value.nbytes for name, value in feeds.items()}
        shape = self._output_shape(feeds)
        if shape is not None and shape != bound.shape:
            if shape not in self._outs:
                buffer = np.empty(shape, np.float32)  # (B, n, V)
                self._outs[shape] = buffer, ort.OrtValue.ortvalue_from_numpy(buffer)
            bound.io.bind_ortvalue_output(self.output, self._outs[shape][1])
            bound.shape = shape
        session.run_with_iobinding(bound.io)
        if shape is not None:
            return self._outs[shape][0].copy()  # ORT writes the next step's output into the same buffer
        return bound.io.get_outputs()[0].numpy().copy()

    def _output_shape(self, feeds: dict[str, np.ndarray]) -> tuple[int, ...] | None:
        """(B, n, V) when the feeds fix it (B from input_ids, n fixed or fed as logits_to_keep or positions)."""
        spec = self._spec.shape
        if len(spec) != 3 or not isinstance(spec[2], int) or io_names.INPUT_IDS not in feeds:
            return None
        if isinstance(spec[1], int):
            rows = spec[1]
        elif io_names.LOGITS_TO_KEEP in feeds:
            rows = int(feeds[io_names.LOGITS_TO_KEEP][0])
        elif io_names.LOGIT_POSITIONS in feeds:
            rows = len(feeds[io_names.LOGIT_POSITIONS])
        else:
            return None
        return (len(feeds[io_names.INPUT_IDS]), rows, spec[2])


class _SessionIO:
    """One session's IO binding, and the shape of the logits buffer bound to it (None: ORT allocates)."""

    def __init__(self, session: ort.InferenceSession, output: str):
        self.io = session.io_binding()
        self.io.bind_output(output)  # bound first: get_outputs()[0]
        self.shape: tuple[int, ...] | None = None
