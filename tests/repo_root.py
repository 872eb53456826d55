"""The repository root, for tests that run its scripts (`benchmarks/`, `samples/`) or read its files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
