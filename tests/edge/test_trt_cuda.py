"""The TensorRT backend's CUDA error paths, run for real on this machine: cuda-python installed, no NVIDIA driver.

Without a driver the CUDA runtime calls return error codes (cudaErrorInsufficientDriver here) and the driver API
fails to find libcuda at all; each must reach the user as one line (a PrefixDeployError), never a traceback.
"""

from __future__ import annotations

import pytest

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.backends.trt import INSTALL_HINT
from prefixdeploy.runtime.backends.trt.cuda import Cuda, CudaError, DeviceBuffers, import_cudart


def _driver_present() -> bool:
    cudart = import_cudart(INSTALL_HINT)
    return cudart.cudaGetDeviceCount()[0] == cudart.cudaError_t.cudaSuccess


pytestmark = pytest.mark.skipif(_driver_present(), reason="a CUDA driver is present: these paths need its absence")


def _assert_one_line_user_error(info: pytest.ExceptionInfo, *needles: str) -> None:
    assert isinstance(info.value, PrefixDeployError)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, message
    for needle in needles:
        assert needle in message, message


def test_no_device_is_a_one_line_error_that_says_what_to_use():
    with pytest.raises(CudaError) as info:
        Cuda(import_cudart(INSTALL_HINT)).device()
    _assert_one_line_user_error(info, "found no usable CUDA device", "cudaGetDeviceCount", "backend='ort'")


@pytest.mark.parametrize("call", [("cudaMalloc", 256), ("cudaStreamCreate",), ("cudaFree", 0)])
def test_failing_runtime_calls_name_the_call_and_the_error(call):
    with pytest.raises(CudaError) as info:
        Cuda(import_cudart(INSTALL_HINT))(*call)
    _assert_one_line_user_error(info, f"CUDA call {call[0]} failed", "cudaError")


def test_device_buffers_report_a_failed_allocation():
    buffers = DeviceBuffers(Cuda(import_cudart(INSTALL_HINT)))
    with pytest.raises(CudaError) as info:
        buffers.get("logits", 1 << 20)
    _assert_one_line_user_error(info, "cudaMalloc")
    assert buffers.ptr == {}  # nothing half-recorded: a later release_all frees nothing it does not own


def test_cuda_python_not_finding_libcuda_is_a_one_line_error():
    """The driver API raises (cuda.pathfinder's DynamicLibNotFoundError) instead of returning a code."""
    from cuda.bindings import driver

    try:
        driver.cuInit(0)
    except RuntimeError:
        pass
    else:
        pytest.skip("libcuda is present here: cuda-python returns error codes instead of raising")
    with pytest.raises(CudaError) as info:
        Cuda(driver)("cuInit", 0)
    _assert_one_line_user_error(info, "CUDA call cuInit failed", "backend='ort'")
