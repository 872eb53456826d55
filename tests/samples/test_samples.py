"""Each sample end to end on a tiny model: its data generator, `prefixdeploy train` on the split, and its eval script
(bundle export, the three conditions through the runtime, the metric). Scores are meaningless here; the plumbing
is what is checked. The real scores are in samples/RESULTS.md."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_models import tiny_config, tiny_tokenizer

from prefixdeploy.cli import main

ROOT = Path(__file__).resolve().parents[2]
TASKS = {  # task: the metrics its eval script reports
    "sentiment": ("accuracy",),
    "extract": ("exact match", "fields"),
    "e2e": ("BLEU", "slot coverage"),
}


@pytest.fixture(scope="module")
def long_model(tmp_path_factory) -> Path:
    """A tiny llama with room for e2e's records under the tiny tokenizer (about 3 characters per token)."""
    import torch
    from transformers import AutoModelForCausalLM

    directory = tmp_path_factory.mktemp("model-long")
    tok = tiny_tokenizer()
    config = tiny_config("llama", len(tok))
    config.max_position_embeddings = 512
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).eval().save_pretrained(directory)
    tok.save_pretrained(directory)
    return directory


def run(*args) -> str:
    done = subprocess.run([sys.executable, *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize("task", sorted(TASKS))
def test_sample_end_to_end(task, long_model, tmp_path):
    sample = ROOT / "samples" / task
    assert (sample / "README.md").is_file()
    data = tmp_path / "data"
    out = run(sample / "make_data.py", "--out", data, "--train", 12, "--validation", 4, "--test", 6)
    assert "test.jsonl: 6 records" in out
    records = [json.loads(line) for line in (data / "test.jsonl").read_text().splitlines()]
    assert len(records) == 6 and all(r["input"] and r["output"] for r in records)
    train_inputs = {json.loads(line)["input"] for line in (data / "train.jsonl").read_text().splitlines()}
    assert train_inputs.isdisjoint(r["input"] for r in records), "test records must never be trained on"

    prefix = tmp_path / f"{task}.safetensors"
    args = ["train", "--model", long_model, "--data", data / "train.jsonl", "--validation", data / "validation.jsonl"]
    args += ["-o", prefix, "--prefix-length", 4, "--encoder-hidden-size", 16, "--epochs", 1, "--max-length", 400]
    result = CliRunner().invoke(main, list(map(str, args)))
    assert result.exit_code == 0, result.output

    scores_file = tmp_path / "scores.json"
    out = run(sample / "evaluate.py", "--model", long_model, "--prefix", prefix, "--data", data / "test.jsonl",
              "--batch-size", 4, "--json", scores_file)  # fmt: skip
    saved = json.loads(scores_file.read_text())
    assert list(saved["scores"]) == ["base raw", "zero-shot instruction", "prefix"]
    for condition, scores in saved["scores"].items():
        assert len(saved["outputs"][condition]) == 6
        for metric in TASKS[task]:
            assert 0.0 <= scores[metric] <= 100.0, (condition, metric)
            assert metric in out


def test_data_generators_are_deterministic(tmp_path):
    for task in TASKS:
        script = ROOT / "samples" / task / "make_data.py"
        run(script, "--out", tmp_path / "a", "--train", 20, "--validation", 5, "--test", 5)
        run(script, "--out", tmp_path / "b", "--train", 20, "--validation", 5, "--test", 5)
        for split in ("train", "validation", "test"):
            assert (tmp_path / "a" / f"{split}.jsonl").read_bytes() == (tmp_path / "b" / f"{split}.jsonl").read_bytes()


def load_sample_module(task: str, name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"sample_{task}_{name}", ROOT / "samples" / task / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("task", sorted(TASKS))
def test_metrics_give_the_references_full_marks(task, tmp_path):
    """A metric that docks the references themselves (e.g. an unrecognized paraphrase of a slot) is wrong."""
    run(ROOT / "samples" / task / "make_data.py", "--out", tmp_path, "--train", 300, "--validation", 5, "--test", 50)
    scorer = load_sample_module(task, "evaluate")
    for split in ("train", "test"):
        records = [json.loads(line) for line in (tmp_path / f"{split}.jsonl").read_text().splitlines()]
        scores = scorer.score([r["output"] for r in records], records)
        assert all(value == pytest.approx(100.0) for value in scores.values()), (split, scores)
