"""The CUDA side of the TensorRT backend, through cuda-python: the few runtime calls it makes, and its device buffers.

Must not import torch. cuda-python is imported only by `import_cudart`. Every failing call (an error code, or
cuda-python not finding the driver at all) becomes a `CudaError`: a one-line user error that names the call.
"""

from __future__ import annotations

from types import ModuleType

from prefixdeploy.errors import PrefixDeployError

NO_DEVICE_HINT = "use backend='ort' (ONNX Runtime on the CPU) on a machine without a usable NVIDIA GPU"


class CudaError(PrefixDeployError):
    """A CUDA runtime call failed: no driver, no device, out of memory, …"""


def import_cudart(install_hint: str) -> ModuleType:
    """cuda-python's runtime module, or a PrefixDeployError that says how to install it."""
    try:
        from cuda.bindings import runtime as cudart  # cuda-python ≥ 12.6, the only layout in 13

        return cudart
    except ImportError:
        pass
    try:
        from cuda import cudart  # cuda-python < 12.6

        return cudart
    except ImportError as e:
        raise PrefixDeployError(f"{install_hint} (import cuda-python: {e})") from None


def _text(value) -> str:
    return value.split(b"\0")[0].decode(errors="replace") if isinstance(value, bytes) else str(value)


def _one_line(value) -> str:
    return " ".join(_text(value).split())


class Cuda:
    """Calls CUDA runtime functions by name through cuda-python and raises CudaError when one fails."""

    def __init__(self, cudart: ModuleType):
        self.rt = cudart

    def __call__(self, function: str, *args):
        try:
            err, *out = getattr(self.rt, function)(*args)
        except RuntimeError as e:  # cuda-python not finding the driver library (its DynamicLibNotFoundError)
            raise CudaError(f"CUDA call {function} failed: {_one_line(e)}; {NO_DEVICE_HINT}") from None
        if err != self.rt.cudaError_t.cudaSuccess:
            raise CudaError(f"CUDA call {function} failed: {getattr(err, 'name', err)} ({self._describe(err)})")
        return out[0] if len(out) == 1 else None

    def _describe(self, err) -> str:
        try:
            return _one_line(self.rt.cudaGetErrorString(err)[1])
        except Exception:  # the description is a courtesy; never hide the error code behind another failure
            return "no description"

    def device(self) -> str:
        """The current GPU's name and compute capability (engines are specific to both)."""
        try:
            if self("cudaGetDeviceCount") < 1:
                raise CudaError("no CUDA device is present")
            props = self("cudaGetDeviceProperties", self("cudaGetDevice"))
        except CudaError as e:
            raise CudaError(f"the TensorRT backend found no usable CUDA device ({e}); {NO_DEVICE_HINT}") from None
        return f"{_text(props.name)} sm_{props.major}{props.minor}"

    def stream_handle(self, stream) -> int:
        try:  # cuda-python 13 deprecates int(handle)
            from cuda.bindings.utils import get_cuda_native_handle
        except ImportError:
            return int(stream)
        return get_cuda_native_handle(stream)


class DeviceBuffers:
    """One device allocation per tensor name; it grows by at least half when a call needs more, else is reused."""

    def __init__(self, cuda: Cuda):
        self.cuda = cuda
        self.ptr: dict[str, int] = {}
        self.size: dict[str, int] = {}

    def get(self, name: str, nbytes: int) -> int:
        if self.size.get(name, 0) < nbytes or name not in self.ptr:
            size = max(nbytes, self.size.get(name, 0) * 3 // 2, 256)  # never 0: empty tensors need a real address
            self.release(name)
            self.ptr[name], self.size[name] = self.cuda("cudaMalloc", size), size
        return self.ptr[name]

    def release(self, name: str) -> None:
        if name in self.ptr:
            self.cuda("cudaFree", self.ptr.pop(name))
            self.size.pop(name)

    def release_all(self) -> None:
        for name in list(self.ptr):
            self.release(name)
