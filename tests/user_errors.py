"""The house rule for bad input, asserted once: exit code 2, one line on stderr naming the problem, no traceback."""

from __future__ import annotations


def assert_user_error(code: int, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def assert_no_bundle_written(out) -> None:
    """A refused export leaves nothing at `out` and no temporary directory of its own beside it."""
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")], "temp dir left behind"
