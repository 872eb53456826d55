"""The payload's parts: split here, received one device call at a time, reassembled and checked there.

Standard library only: the same file runs here (prepare.py) and on the GPU machine (device.py). The manifest
(`manifest.json` beside the parts) names every part in order with its size and sha256, and the whole payload's.
A part received on the device is copied into the store (`STORE/parts/NAME`, idempotent: a repeated call does no
harm); the last call reassembles them in order and checks every hash before anything is unpacked.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST = "manifest.json"
CHUNK = 1 << 22


class PartsError(Exception):
    """A part is missing, of the wrong payload, or corrupt: the message says which and what to do."""


@dataclass(frozen=True)
class Part:
    name: str  # file name, e.g. payload.part01
    size: int  # bytes
    sha256: str


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def split_file(payload: Path, out: Path, part_bytes: int, stem: str = "payload") -> list[Part]:
    """Cut `payload` into files out/STEM.partNN of at most `part_bytes` each (the last one shorter)."""
    if part_bytes < 1:
        raise ValueError(f"part_bytes must be ≥ 1, got {part_bytes}")
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob(f"{stem}.part*"):
        old.unlink()
    parts, index = [], 1
    with payload.open("rb") as src:
        while True:
            path = out / f"{stem}.part{index:02d}"
            with path.open("wb") as dst:
                left = part_bytes
                while left and (chunk := src.read(min(CHUNK, left))):
                    dst.write(chunk)
                    left -= len(chunk)
            if path.stat().st_size == 0:
                path.unlink()
                break
            parts.append(Part(path.name, path.stat().st_size, sha256_file(path)))
            index += 1
    return parts


def write_manifest(out: Path, parts: list[Part], payload: Path, contents: list[str]) -> dict:
    manifest = {
        "payload": {"size": payload.stat().st_size, "sha256": sha256_file(payload)},
        "parts": [asdict(p) for p in parts],
        "contents": contents,  # what the payload holds, for the reader of the device's log
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise PartsError(f"cannot read the parts' manifest {path}: {e}; carry it with every call") from None


def receive(part: Path, manifest: dict, store: Path) -> list[str]:
    """Check `part` against the manifest and keep it in store/parts; the names of the parts the store now holds."""
    wanted = {p["name"]: p for p in manifest["parts"]}
    if part.name not in wanted:
        raise PartsError(f"{part.name} is not a part of this payload (its parts: {', '.join(wanted)})")
    kept = store / "parts" / part.name
    if not (kept.is_file() and sha256_file(kept) == wanted[part.name]["sha256"]):
        if sha256_file(part) != wanted[part.name]["sha256"]:
            raise PartsError(f"{part.name} arrived corrupt (sha256 differs from the manifest's): send it again")
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(part, kept)
    return held(manifest, store)


def held(manifest: dict, store: Path) -> list[str]:
    """The manifest's parts present in the store with the right size (hashes are checked on receipt and assembly)."""
    return [
        p["name"]
        for p in manifest["parts"]
        if (store / "parts" / p["name"]).is_file() and (store / "parts" / p["name"]).stat().st_size == p["size"]
    ]


def missing_before(manifest: dict, store: Path, part: str) -> list[str]:
    """Parts listed before `part` that the store lacks: the machine was replaced since they were sent."""
    names = [p["name"] for p in manifest["parts"]]
    have = set(held(manifest, store))
    return [name for name in names[: names.index(part)] if name not in have]


def assemble(manifest: dict, store: Path, payload: Path) -> Path:
    """Concatenate the parts in order into `payload`, checking each part's hash and the whole's."""
    lost = [p["name"] for p in manifest["parts"] if p["name"] not in held(manifest, store)]
    if lost:
        raise PartsError(f"the device lacks {', '.join(lost)} (a fresh machine?): send every part again from the first")
    digest = hashlib.sha256()
    with payload.open("wb") as dst:
        for p in manifest["parts"]:
            data = (store / "parts" / p["name"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != p["sha256"]:
                raise PartsError(f"{p['name']} on the device is corrupt: send it again")
            digest.update(data)
            dst.write(data)
    if digest.hexdigest() != manifest["payload"]["sha256"]:
        raise PartsError("the reassembled payload's sha256 differs from the manifest's: prepare and send it again")
    return payload
