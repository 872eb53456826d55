"""Prefix load time: how long a replica takes to read and validate one prefix file from a prefix store.

Writes `--count` random prefix files of one geometry (the default: SmolLM2-135M-Instruct's, P=16) into a temporary
directory, then times `serving.registry.read_valid_prefix` on each, the exact read and checks a store replica runs
on a prefix's first request (safetensors read, geometry, finite values). Files are read from the page cache (they
were just written): this is the CPU cost; a cold read adds the file size over the disk's bandwidth. Prints one JSON
object. Run it under the shared lock: `flock /work/bench.lock python benchmarks/prefix_load.py`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from prefixdeploy.runtime.prefix import ModelFacts, Prefix, save_prefix
from prefixdeploy.serving.http.registry import read_valid_prefix

# SmolLM2-135M-Instruct's config.json: 30 layers, 3 kv heads, head_dim 576 / 9 = 64; Llama-2-7B: 32, 32, 128.
GEOMETRIES = {"smollm2-135m": (30, 3, 64, 576), "llama-2-7b": (32, 32, 128, 4096)}


def measure(geometry: str, length: int, count: int) -> dict:
    layers, kv_heads, head_dim, hidden = GEOMETRIES[geometry]
    model = ModelFacts("llama", layers, kv_heads, head_dim, hidden)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(count):
            shape = (layers, kv_heads, length, head_dim)  # (L, H_kv, P, D)
            key, value = (rng.standard_normal(shape, dtype=np.float32) for _ in range(2))
            paths.append(Path(tmp) / f"p{i}.safetensors")
            save_prefix(Prefix(f"p{i}", key, value, model), paths[-1])
        read_valid_prefix(paths[0], "p0", model, 1 << 20, geometry)  # warm-up (imports, first allocation)
        times = []
        for i, path in enumerate(paths):
            start = time.perf_counter()
            read_valid_prefix(path, f"p{i}", model, 1 << 20, geometry)
            times.append(time.perf_counter() - start)
        size = paths[0].stat().st_size
    return {
        "geometry": geometry,
        "P": length,
        "file_bytes": size,
        "count": count,
        "median_ms": round(statistics.median(times) * 1e3, 3),
        "p90_ms": round(sorted(times)[int(0.9 * (count - 1))] * 1e3, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--geometry", choices=sorted(GEOMETRIES), action="append")
    parser.add_argument("--length", type=int, default=16, help="P, the prefix's virtual tokens")
    parser.add_argument("--count", type=int, default=50, help="files timed per geometry")
    args = parser.parse_args()
    for geometry in args.geometry or sorted(GEOMETRIES, reverse=True):
        print(json.dumps(measure(geometry, args.length, args.count)))


if __name__ == "__main__":
    main()
