"""The memory behind the in-place KV slots (`kv.KVSlots`) of an ONNX Runtime session: where the buffer lives, and how
a slot is seeded with a prefix, moved to another slot, and read back. Must not import torch.

Shape letters: L layers, N slots, H_kv kv heads, S slot length, D head dim, P prefix length. The buffer is
(L, 2, N, H_kv, S, D), C-contiguous: kv[l, k, a:b] (keys k = 0, values k = 1) is one contiguous block, the past of
slots [a, b) in layer l, so binding it is a pointer and a shape (a `Region`). Both kinds of buffer are bound that
way, so a decode step binds alike for both and moves only the token ids, mask and positions in and the logits out.

- `HostKV`: a numpy array in small pages (`memory.zeros_in_small_pages`), seeded, moved and read with numpy. The
  CPU provider's default: numpy copies a prefix's P positions in a few microseconds, and moves only a slot's filled
  positions, where the graphs below copy whole slot blocks (touching every page of them). With a GPU provider it is
  the old path: ONNX Runtime copies the bound host buffers to the device and back on every run.
- `DeviceKV`: an OrtValue on the session's device (the GPU with the CUDA provider; the CPU's memory with the CPU
  provider, which is how CI runs this path). No step copies it to the host. A prefix is uploaded once per prefix and
  backend (`DeviceCopies.upload`), then split device to device into a slot's runs: within a slot a prefix's P
  positions are strided (per layer, keys and values, H_kv runs of P·D elements every S·D), so one Split writes all
  2·L·H_kv runs. Moves copy whole slot blocks (2·L contiguous (H_kv, S, D) runs), reads copy them to the host. These
  copies are tiny ONNX graphs (Identity, Split, Expand: `onnx_bytes.py`) run by sessions of the same provider, so
  the runtime needs neither torch nor cupy; their bindings are made once per (slot, P) and per pair of slots.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort

from prefixdeploy.runtime.backends.onnx_bytes import copy_graph, fill_graph, split_graph
from prefixdeploy.runtime.memory import zeros_in_small_pages
from prefixdeploy.runtime.prefix import Prefix


@dataclass(frozen=True)
class Device:
    type: str  # IOBinding's device_type: "cpu" | "cuda"
    id: int = 0


HOST = Device("cpu")


@dataclass(frozen=True)
class Region:
    """A contiguous block of memory as IOBinding binds it: where, what, and its address."""

    device: Device
    dtype: np.dtype
    shape: tuple[int, ...]
    ptr: int

    @property
    def ndim(self) -> int:  # with dtype and shape, what Backend.check_feeds reads
        return len(self.shape)


def host_region(array: np.ndarray) -> Region:
    """A C-contiguous numpy array as a Region of the host."""
    assert array.flags.c_contiguous
    return Region(HOST, array.dtype, array.shape, array.ctypes.data)


def bind_region(io: ort.IOBinding, name: str, region: Region, output: bool = False) -> None:
    bind = io.bind_output if output else io.bind_input
    bind(name, region.device.type, region.device.id, region.dtype, list(region.shape), region.ptr)


# The copy sessions' providers per device type. They allocate nothing large (every output is bound), so the model
# session's arena options do not matter to them; the CPU provider runs what the CUDA provider keeps on the host.
_PROVIDERS = {
    "cpu": lambda _: ["CPUExecutionProvider"],
    "cuda": lambda i: [("CUDAExecutionProvider", {"device_id": str(i)}), "CPUExecutionProvider"],
}


class KVBuffer:
    """(L, 2, N, H_kv, S, D) of `dtype` at address `ptr` on `device`; subclasses own the memory."""

    def __init__(self, device: Device, shape: tuple[int, ...], dtype: np.dtype, ptr: int):
        self.device, self.shape, self.dtype, self.ptr = device, tuple(shape), np.dtype(dtype), ptr
        self.size = int(np.prod(self.shape))
        self.nbytes = self.size * self.dtype.itemsize

    def past(self, layer: int, k: int, first: int, count: int) -> Region:
        """kv[layer, k, first:first + count]: the past (count, H_kv, S, D) of `count` slots from `first`."""
        return self.region((layer, k, first), (count, *self.shape[3:]))

    def region(self, index: tuple[int, ...], shape: tuple[int, ...]) -> Region:
        """`shape` elements in C order from kv[index] (its first element when the index is partial)."""
        offset = int(np.ravel_multi_index(index + (0,) * (len(self.shape) - len(index)), self.shape))
        assert offset + int(np.prod(shape)) <= self.size, (index, shape, self.shape)
        return Region(self.device, self.dtype, tuple(shape), self.ptr + offset * self.dtype.itemsize)


class HostKV(KVBuffer):
    """The buffer in host memory, as numpy; see the module's docstring."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.array = zeros_in_small_pages(shape, dtype)  # (L, 2, N, H_kv, S, D); see runtime.memory
        super().__init__(HOST, shape, dtype, self.array.ctypes.data)

    def seed(self, slot: int, prefix: Prefix) -> None:
        P = prefix.num_virtual_tokens
        self.array[:, 0, slot, :, :P] = prefix.key  # (L, H_kv, P, D), cast to the buffer's dtype
        self.array[:, 1, slot, :, :P] = prefix.value

    def move(self, source: int, target: int, length: int) -> None:
        self.array[:, :, target, :, :length] = self.array[:, :, source, :, :length]  # (L, 2, H_kv, length, D)

    def read(self, slot: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of the slot's first `length` positions, each (L, H_kv, length, D) float32 (copies)."""
        return tuple(self.array[:, k, slot, :, :length].astype(np.float32) for k in (0, 1))


class DeviceKV(KVBuffer):
    """The buffer as an OrtValue on the session's device, copied by `DeviceCopies`; see the module's docstring."""

    def __init__(self, copies: DeviceCopies, shape: tuple[int, ...], dtype: np.dtype):
        device = copies.device
        self.value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), dtype, device.type, device.id)
        super().__init__(device, shape, dtype, self.value.data_ptr())
        self.copies = copies
        copies.fill(self.region((), (self.size,)))  # device memory comes uninitialized
        self._seeds: dict[tuple[int, int], GraphRun] = {}  # (slot, P) -> a Split into that slot's runs
        self._moves: dict[tuple[int, int], GraphRun] = {}  # (source, target) -> a copy of the slot's blocks

    def seed(self, slot: int, prefix: Prefix) -> None:
        L, _, _, H, _, D = self.shape
        P = prefix.num_virtual_tokens
        if (slot, P) not in self._seeds:
            runs = [self.region((i, k, slot, h), (1, P * D)) for i in range(L) for k in (0, 1) for h in range(H)]
            self._seeds[slot, P] = self.copies.splitter(runs)
        self._seeds[slot, P].run(src=self.copies.upload(prefix, self.dtype))  # (L·2·H_kv, P·D) on the device

    def move(self, source: int, target: int, length: int) -> None:
        """Copy slot `source` into slot `target`: whole (H_kv, S, D) blocks, `length` aside (one cached binding)."""
        if (source, target) not in self._moves:
            self._moves[source, target] = self.copies.copier(self._blocks(source), self._blocks(target))
        self._moves[source, target].run()

    def read(self, slot: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Keys and values of the slot's first `length` positions, each (L, H_kv, length, D) float32 (copies)."""
        L, _, _, H, S, D = self.shape
        host = np.empty((L, 2, H, S, D), self.dtype)  # (L, 2, H_kv, S, D)
        targets = [host_region(host[i, k].reshape(-1)) for i in range(L) for k in (0, 1)]
        self.copies.copier(self._blocks(slot), targets).run()
        return tuple(host[:, k, :, :length].astype(np.float32) for k in (0, 1))

    def _blocks(self, slot: int) -> list[Region]:
        """The slot's 2·L contiguous (H_kv, S, D) blocks, flat, in (layer, k) order."""
        L, H, S, D = self.shape[0], *self.shape[3:]
        return [self.region((i, k, slot), (H * S * D,)) for i in range(L) for k in (0, 1)]


class GraphRun:
    """A session of one tiny graph with its inputs and outputs bound to regions; `run` may rebind some inputs."""

    def __init__(self, session: ort.InferenceSession, inputs: dict[str, Region], outputs: dict[str, Region]):
        self.session, self.io = session, session.io_binding()
        for name, region in inputs.items():
            bind_region(self.io, name, region)
        for name, region in outputs.items():
            bind_region(self.io, name, region, output=True)

    def run(self, **inputs: Region | np.ndarray) -> None:
        """Run, after binding `inputs` (Regions where they are; numpy arrays are copied from the host)."""
        for name, value in inputs.items():
            if isinstance(value, Region):
                bind_region(self.io, name, value)
            else:
                self.io.bind_cpu_input(name, value)
        self.session.run_with_iobinding(self.io)


class DeviceCopies:
    """The copy, split and fill sessions of one device, and the prefixes uploaded to it (once each, while alive)."""

    def __init__(self, device: Device):
        self.device = device
        self.providers = _PROVIDERS[device.type](device.id)  # the copies run where the model runs
        self._sessions: dict[bytes, ort.InferenceSession] = {}
        self._uploads: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # Prefix -> {dtype: (array, value)}

    def upload(self, prefix: Prefix, dtype: np.dtype) -> Region:
        """The prefix's keys and values on the device, (L·2·H_kv, P·D) of `dtype` in (layer, k, head) order."""
        held = self._uploads.setdefault(prefix, {})
        if dtype not in held:
            rows = np.stack([prefix.key, prefix.value], axis=1).astype(dtype)  # (L, 2, H_kv, P, D)
            rows = rows.reshape(-1, prefix.num_virtual_tokens * prefix.key.shape[3])  # (L·2·H_kv, P·D)
            # The one host-to-device copy of this prefix (on the CPU the OrtValue wraps `rows`: keep them alive).
            held[dtype] = rows, ort.OrtValue.ortvalue_from_numpy(rows, self.device.type, self.device.id)
        rows, value = held[dtype]
        return Region(self.device, rows.dtype, rows.shape, value.data_ptr())

    def splitter(self, targets: list[Region]) -> GraphRun:
        """dst_i = row i of `src` (bound at `run(src=...)`), each target (1, n)."""
        outputs = {f"dst_{i}": region for i, region in enumerate(targets)}
        return GraphRun(self._session(split_graph(len(targets), targets[0].dtype)), {}, outputs)

    def copier(self, sources: list[Region], targets: list[Region]) -> GraphRun:
        """targets[i] = sources[i], each a flat run; targets may be on the host."""
        inputs = {f"src_{i}": region for i, region in enumerate(sources)}
        outputs = {f"dst_{i}": region for i, region in enumerate(targets)}
        return GraphRun(self._session(copy_graph(len(sources), sources[0].dtype)), inputs, outputs)

    def fill(self, target: Region, value: float = 0.0) -> None:
        """Write `value` into every element of the flat run `target`."""
        run = GraphRun(self._session(fill_graph(target.dtype)), {}, {"out": target})
        run.run(value=np.array(value, target.dtype), shape=np.array(target.shape, np.int64))

    def _session(self, graph: bytes) -> ort.InferenceSession:
        if graph not in self._sessions:
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every Identity
            options.intra_op_num_threads = 1  # memory copies: threads would only add their start-up
            options.log_severity_level = 3  # errors only (the CUDA provider notes the shapes kept on the CPU)
            self._sessions[graph] = ort.InferenceSession(graph, options, providers=self.providers)
        return self._sessions[graph]
