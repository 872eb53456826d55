"""Write a graph's weights to an external data file at page-aligned offsets, so ONNX Runtime memory-maps them.

ONNX Runtime maps an external initializer from its file only when its offset is a multiple of the page size (its
`on_disk_alignment_factor`, 4 KiB); otherwise it reads the bytes into a heap copy. `onnx.save_model` packs tensors
back to back, so most of them got copied: 35–45 MiB more resident memory for SmolLM2 at every precision (measured with
`prefixdeploy bench`). Mapped weights that a kernel pre-packs are released after packing; the rest (the embedding
table) stay on disk except for the rows a prompt touches.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import onnx
from onnx import numpy_helper

PAGE = 4096  # the page size of x86-64 and of Jetson's L4T kernels; a tensor this size or larger starts on a page
SMALL_ALIGN = 64  # smaller tensors are copied to the heap anyway: keep them packed
SIZE_THRESHOLD = 1024  # tensors smaller than this stay inside the .onnx file, as onnx.save_model's default


def append_aligned(data_file: BinaryIO, data: bytes) -> int:
    """Append `data` at the next offset ONNX Runtime can map (a page for large tensors); return that offset."""
    align = PAGE if len(data) >= PAGE else SMALL_ALIGN
    data_file.seek(0, 2)
    data_file.write(b"\0" * ((-data_file.tell()) % align))
    offset = data_file.tell()
    data_file.write(data)
    return offset


def set_location(tensor: onnx.TensorProto, location: str, offset: int, length: int) -> None:
    """Point `tensor` at bytes [offset, offset + length) of `location` (relative to the .onnx file)."""
    tensor.ClearField("raw_data")
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    tensor.data_location = onnx.TensorProto.EXTERNAL


def save_with_aligned_data(model: onnx.ModelProto, out: Path, keep_weights: bool = False) -> None:
    """Save `model` to `out` with every initializer of ≥ SIZE_THRESHOLD bytes in `out.name + ".data"`, aligned.

    The model's initializers must hold their bytes in memory (not point at external files already). They point at the
    data file afterwards, unless `keep_weights` (the exporter derives the ONNX Runtime graphs from the same graph).
    """
    location = out.name + ".data"
    moved: list[tuple[onnx.TensorProto, bytes]] = []
    with (out.parent / location).open("wb") as data_file:
        for tensor in model.graph.initializer:
            if not tensor.HasField("raw_data"):  # typed fields (float_data, …): the same bytes as raw_data
                tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor), tensor.name))
            if len(tensor.raw_data) >= SIZE_THRESHOLD:
                data = tensor.raw_data
                set_location(tensor, location, append_aligned(data_file, data), len(data))
                if keep_weights:
                    moved.append((tensor, data))
    onnx.save_model(model, str(out))
    for tensor, data in moved:
        del tensor.external_data[:]
        tensor.ClearField("data_location")
        tensor.raw_data = data
