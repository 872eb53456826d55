"""Picking the importer for a source (`detect_kind`, `check_source`), `NAME=SRC` arguments, and the torch-free path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from upstream_prefix import LiLiangPrefix, PTuningV2Model, hf_model, save_checkpoint

from prefixdeploy.errors import PrefixMismatchError, PrefixSourceError
from prefixdeploy.importers import check_source, detect_kind, load_prefix_source, parse_prefix_arg
from prefixdeploy.runtime.prefix import ModelFacts, save_prefix

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("summ=adapters/task1", ("summ", "adapters/task1")),
        ("adapters/task1", ("task1", "adapters/task1")),
        ("adapters/task1/", ("task1", "adapters/task1")),
        ("out/qa.safetensors", ("qa", "out/qa.safetensors")),
        ("qa=out/x=y.safetensors", ("qa", "out/x=y.safetensors")),
        ("runs/lr=0.1/summ.safetensors", ("summ", "runs/lr=0.1/summ.safetensors")),  # `=` in a path, no NAME
    ],
)
def test_parse_prefix_arg(arg, expected):
    name, path = parse_prefix_arg(arg)
    assert (name, path) == (expected[0], Path(expected[1]))


def test_parse_prefix_arg_defaults_to_the_directory_name(tmp_path):
    (tmp_path / "task.v2").mkdir()
    assert parse_prefix_arg(str(tmp_path / "task.v2"))[0] == "task.v2"  # a directory's name keeps its dots


@pytest.mark.parametrize("arg", ["bad name=adapters/task1", "-x=adapters/task1", "=.hidden"])
def test_parse_prefix_arg_refuses_bad_names(arg):
    with pytest.raises(PrefixSourceError, match="is not valid"):
        parse_prefix_arg(arg)


@pytest.fixture(scope="module")
def sources(tiny_model_dir, peft_adapter, tmp_path_factory):
    """One source of every kind, for gpt2, all safetensors (readable without torch)."""
    root = tmp_path_factory.mktemp("sources")
    model_dir = tiny_model_dir("gpt2")
    model, facts = hf_model(model_dir)
    torch.manual_seed(0)
    li_liang = LiLiangPrefix(2, 4, 64, preseqlen=4).eval()
    ptuned = PTuningV2Model(model, facts, 3, projection=True).eval()
    made = {
        "peft": peft_adapter("gpt2", 5),
        "li_liang": save_checkpoint(li_liang.state_dict(), None, root / "ll" / "model.safetensors").parent,
        "ptuning_v2": save_checkpoint(ptuned.state_dict(), None, root / "pt" / "model.safetensors"),
    }
    prefix = load_prefix_source(made["peft"], facts, "summ")
    save_prefix(prefix, root / "summ.safetensors")
    return {**made, "prefix": root / "summ.safetensors"}, facts


def test_detect_kind_of_each_source(sources):
    paths, _ = sources
    assert {kind: detect_kind(path) for kind, path in paths.items()} == {kind: kind for kind in paths}


def test_unrelated_paths_are_refused_before_loading_a_model(tiny_model_dir, tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "random.bin").write_bytes(np.random.default_rng(0).bytes(1000))
    for path in (tiny_model_dir("gpt2"), tmp_path / "empty", tmp_path / "notes.txt", tmp_path / "random.bin"):
        assert detect_kind(path) is None
        with pytest.raises(PrefixSourceError, match="cannot read .* as a prefix: .*expected a prefix .safetensors"):
            check_source(path)
    with pytest.raises(PrefixSourceError, match="does not exist"):
        check_source(tmp_path / "missing")


def test_refusal_says_what_is_wrong_with_weights_it_found(tiny_model_dir, sources, tmp_path):
    with pytest.raises(PrefixSourceError, match="model.safetensors holds no prefix tensors"):
        check_source(tiny_model_dir("gpt2"))
    truncated = tmp_path / "ckpt" / "pytorch_model.bin"
    data = save_checkpoint(LiLiangPrefix(2, 4, 64, preseqlen=4).state_dict(), None, truncated).read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(PrefixSourceError, match="pytorch_model.bin is not a readable weights file") as e:
        check_source(truncated.parent)
    assert "\n" not in str(e.value)


def test_not_a_prefix_safetensors_is_refused(tmp_path):
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(3, np.float32)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(PrefixSourceError, match="not a prefixdeploy prefix"):
        load_prefix_source(tmp_path / "x.safetensors", ModelFacts("gpt2", 2, 4, 16, 64), "x")


def test_prefix_file_for_another_geometry_names_both_shapes(sources):
    paths, _ = sources
    llama = ModelFacts("llama", num_layers=2, num_key_value_heads=2, head_dim=16, hidden_size=64)
    with pytest.raises(PrefixMismatchError, match=r"2 layers × 4 kv heads × 16; model 'llama' has 2 layers × 2"):
        load_prefix_source(paths["prefix"], llama, "summ")


NO_TORCH = """
import json, sys
for name in ("torch", "transformers", "peft"):
    sys.modules[name] = None  # any `import name` now raises ImportError
from pathlib import Path
from prefixdeploy.errors import PrefixSourceError
from prefixdeploy.importers import load_prefix_source
from prefixdeploy.runtime.prefix import ModelFacts
facts = ModelFacts.from_json(json.loads(sys.argv[1]))
sums = {kind: float(load_prefix_source(Path(p), facts, kind).key.sum()) for kind, p in json.loads(sys.argv[2]).items()}
try:
    load_prefix_source(Path(sys.argv[3]), facts, "bin")
except PrefixSourceError as e:
    sums["bin_error"] = str(e)
print(json.dumps(sums))
"""


def test_safetensors_sources_import_without_torch(sources, tmp_path):
    paths, facts = sources
    bin_file = save_checkpoint(LiLiangPrefix(2, 4, 64, preseqlen=4).state_dict(), None, tmp_path / "ll.bin")
    args = [json.dumps(facts.to_json()), json.dumps({k: str(p) for k, p in paths.items()}), str(bin_file)]
    done = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "needs torch" in result.pop("bin_error")
    for kind, path in paths.items():
        assert result[kind] == pytest.approx(float(load_prefix_source(path, facts, kind).key.sum()), abs=1e-5)
