"""The house rule for bad input, asserted once: exit code 2, one line on stderr naming the problem, no traceback."""

from __future__ import annotations


def assert_user_error(code: int, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
