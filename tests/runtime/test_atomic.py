"""Atomic writes: the target appears complete or not at all, an old directory goes only after the new one is in."""

from __future__ import annotations

import pytest

from prefixdeploy.runtime.atomic import atomic_dir, atomic_path


def test_atomic_file_replaces_on_success_and_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"new" and sorted(p.name for p in target.parent.iterdir()) == ["out.bin"]


def test_atomic_dir_replaces_an_old_directory_only_when_complete(tmp_path):
    target = tmp_path / "bundle"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
    with pytest.raises(RuntimeError), atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
        raise RuntimeError("interrupted")
    assert [p.name for p in target.iterdir()] == ["a"] and [p.name for p in tmp_path.iterdir()] == ["bundle"]
    with atomic_dir(target) as tmp:
        (tmp / "b").write_text("2")
    assert [p.name for p in target.iterdir()] == ["b"] and [p.name for p in tmp_path.iterdir()] == ["bundle"]
