"""A bundle's prefixes on disk: add, remove and list them without re-export. Must not import torch.

The manifest is the commit point. A new prefix file is written under a temporary name, checked, renamed into
`prefixes/`, and only then does a manifest listing it (with its sha256 in `prefixes` and `files`) replace the old
one; a removed prefix leaves the manifest before its file is deleted. A reader sees the old bundle or the new one;
an error leaves the bundle byte for byte as it was, and a hard kill at worst leaves an unlisted file behind, which
loading ignores. Editors of one bundle take turns (an exclusive lock on the bundle directory, where supported).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from prefixdeploy.errors import BundleError, PrefixDeployError
from prefixdeploy.runtime.atomic import atomic_path
from prefixdeploy.runtime.manifest import (
    MANIFEST_NAME,
    Manifest,
    PrefixEntry,
    read_manifest,
    sha256_file,
    write_manifest_json,
)
from prefixdeploy.runtime.prefix import Prefix, load_prefix, read_safetensors_metadata, save_prefix

log = logging.getLogger(__name__)

PREFIX_DIR = "prefixes"


@dataclass(frozen=True)
class PrefixRow:
    """One line of `prefixdeploy prefixes`."""

    name: str
    length: int  # P, the prefix's positions
    source: str  # where it came from, as its file records it ("" when it does not say)
    sha256: str  # as the manifest records it


def add_prefix_file(bundle: Path, file: Path, name: str | None = None) -> PrefixEntry:
    """Add the prefix `.safetensors` at `file` to the switchable bundle at `bundle`, as `name` (default: its own)."""
    if not Path(file).is_file():
        raise PrefixDeployError(f"prefix file {file} does not exist")
    return add_prefix(bundle, load_prefix(file, name=name))


def add_prefix(bundle: Path, prefix: Prefix) -> PrefixEntry:
    """Write `prefix` into the switchable bundle at `bundle` and list it in the manifest; returns its entry."""
    bundle = Path(bundle)
    with _editing(bundle):
        manifest, data = _read(bundle)
        if manifest.mode != "switchable":
            raise BundleError("prefixes can be added only to a switchable bundle; this one is baked (re-export it)")
        prefix.check_fits(manifest.model, f"bundle {bundle.name}")
        if prefix.name in manifest.prefix_names:
            raise BundleError(
                f"bundle {bundle.name} already has a prefix named {prefix.name!r}; choose another name, or "
                "remove-prefix it first",
                fields=("name",),
            )
        rel = f"{PREFIX_DIR}/{prefix.name}.safetensors"
        if rel in manifest.files:
            raise BundleError(f"bundle {bundle.name} already lists a file {rel}; choose another name", fields=("name",))
        target = bundle / rel
        with atomic_path(target) as tmp:
            save_prefix(prefix, tmp)
            entry = PrefixEntry(
                name=prefix.name, num_virtual_tokens=prefix.num_virtual_tokens, file=rel, sha256=sha256_file(tmp)
            )
        try:
            data["prefixes"].append(asdict(entry))
            data["files"] = dict(sorted({**data["files"], rel: entry.sha256}.items()))
            write_manifest_json(data, bundle)
        except BaseException:
            target.unlink(missing_ok=True)  # unlisted, so the bundle is as it was
            raise
    log.info("added prefix %r (%d positions) to %s", entry.name, entry.num_virtual_tokens, bundle)
    return entry


def remove_prefix(bundle: Path, name: str) -> PrefixEntry:
    """Drop prefix `name` from the bundle's manifest, then delete its file; returns the removed entry.

    A baked bank keeps the prefix inside its graph (only no request can choose it any more); the last prefix of a
    baked bundle cannot go, since its graph applies a prefix to every request.
    """
    bundle = Path(bundle)
    with _editing(bundle):
        manifest, data = _read(bundle)
        entry = manifest.prefix(name)  # an unknown name lists the known ones
        if manifest.mode == "baked" and len(manifest.prefixes) == 1:
            raise BundleError(
                f"{name!r} is the last prefix of a baked bundle, whose graph applies it to every request; "
                "re-export the bundle instead"
            )
        data["prefixes"] = [p for p in data["prefixes"] if p["name"] != name]
        data["files"].pop(entry.file, None)
        write_manifest_json(data, bundle)
        _delete_quietly(bundle / entry.file)
    log.info("removed prefix %r from %s", name, bundle)
    return entry


def list_prefixes(bundle: Path) -> list[PrefixRow]:
    """The bundle's prefixes in manifest order, with the source each file records."""
    bundle = Path(bundle)
    manifest = read_manifest(bundle)
    return [PrefixRow(p.name, p.num_virtual_tokens, _source(bundle / p.file), p.sha256) for p in manifest.prefixes]


def format_prefix_table(rows: list[PrefixRow]) -> str:
    """A plain-text table: name, length, source, sha256 (one line per prefix)."""
    if not rows:
        return "(no prefixes)"
    cells = [("NAME", "LENGTH", "SOURCE", "SHA256")]
    cells += [(r.name, str(r.length), r.source or "-", r.sha256) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    lines = [f"{c[0]:<{widths[0]}}  {c[1]:>{widths[1]}}  {c[2]:<{widths[2]}}  {c[3]}" for c in cells]
    return "\n".join(lines)


def _read(bundle: Path) -> tuple[Manifest, dict]:
    """The manifest parsed and validated, and its raw JSON (edited and written back, so unknown fields survive)."""
    manifest = read_manifest(bundle)
    return manifest, json.loads((bundle / MANIFEST_NAME).read_text())


def _source(path: Path) -> str:
    if not path.is_file():
        return "(file missing)"
    try:
        return read_safetensors_metadata(path).get("source", "")
    except PrefixDeployError:
        return "(unreadable)"


def _delete_quietly(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as e:  # the manifest no longer lists it: a stray file, not a broken bundle
        log.warning("could not delete %s (%s); the bundle no longer uses it", path, e)


@contextmanager
def _editing(bundle: Path) -> Iterator[None]:
    """Hold an exclusive lock on the bundle directory; turn file-system errors into one-line BundleErrors."""
    read_manifest(bundle)  # a clear message if it is not a bundle at all
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        fcntl = None
    fd = os.open(bundle, os.O_RDONLY)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    except OSError as e:
        raise BundleError(f"could not update bundle {bundle}: {e.strerror or e}") from None
    finally:
        os.close(fd)
