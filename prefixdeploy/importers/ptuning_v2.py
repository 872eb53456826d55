"""Placeholder: filled in by the importer work."""

from __future__ import annotations

from pathlib import Path


def matches(path: Path) -> bool:
    return False


def load(path, model, name):
    raise NotImplementedError
