"""Who may call what: inference keys (generation, /v1/models) and admin keys (prefix load/unload, /metrics).

Keys come from flags, the environment and files (one key per line; blank lines and `#` comments skipped), and are
stripped of surrounding whitespace (a secret mounted from a file ends with a newline). A key must be printable ASCII
without spaces, as an `Authorization` header carries it. With no admin key, the inference keys open the admin routes
too (one key for everything); with no inference key, the inference routes are open. An admin key opens every route.
The standard library only: `ServeConfig` resolves its keys into an `AccessKeys` before the serve extra is imported.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from prefixdeploy.errors import ConfigError


@dataclass(frozen=True)
class AccessKeys:
    inference: tuple[str, ...] = ()  # (): the inference routes are open
    admin: tuple[str, ...] = ()  # (): the admin routes take the inference keys

    @property
    def for_inference(self) -> tuple[str, ...]:
        """Keys that open generation and /v1/models; () when they are open."""
        return (*self.inference, *self.admin) if self.inference else ()

    @property
    def for_admin(self) -> tuple[str, ...]:
        """Keys that open prefix load/unload and /metrics; () when they are open."""
        return self.admin or self.inference

    def __repr__(self) -> str:  # never the keys themselves, in a log or a traceback
        return f"AccessKeys({len(self.inference)} inference, {len(self.admin)} admin)"


def resolve_keys(field: str, env: str, given: Iterable[str], file: Path | None, file_field: str) -> tuple[str, ...]:
    """The keys of config `field` (or its environment variable `env`) and of its key file `file_field`, checked
    and stripped, in order. Errors name the fields (the CLI spells them as its options)."""
    keys = [_checked(key, f"{field} (or {env})", field) for key in ((given,) if isinstance(given, str) else given)]
    if file is not None:
        keys += [_checked(line, file_field, file_field) for line in _key_lines(Path(file), file_field)]
    return tuple(dict.fromkeys(keys))


def _key_lines(path: Path, field: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else "not UTF-8 text"
        raise ConfigError(f"{field} {path}: cannot read it ({reason})", field) from None
    lines = [line.strip() for line in text.splitlines()]
    keys = [line for line in lines if line and not line.startswith("#")]
    if not keys:
        raise ConfigError(f"{field} {path} holds no key (one key per line; '#' starts a comment)", field)
    return keys


def _checked(key: str, label: str, field: str) -> str:
    key = key.strip()
    if not key:
        raise ConfigError(f"{label} is empty; give a key or leave it unset", field)
    if not all("!" <= c <= "~" for c in key):
        raise ConfigError(
            f"{label}: a key must be printable ASCII without spaces (an Authorization header carries it)", field
        )
    return key
