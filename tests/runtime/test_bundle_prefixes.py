"""Prefixes join and leave a bundle on disk: `add-prefix`, `remove-prefix`, `prefixes`.

`load_bundle` (which checks every hash) accepts the bundle afterwards and runs the new prefix; an error or a kill
at any point leaves the bundle as it was (byte for byte after an error; the manifest and every listed file after a
hard kill) and loadable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from repo_root import ROOT
from user_errors import assert_user_error

from prefixdeploy.cli import main
from prefixdeploy.exporter.export import ExportConfig, export_bundle
from prefixdeploy.runtime import bundle_prefixes
from prefixdeploy.runtime.bundle import load_bundle
from prefixdeploy.runtime.generate import GenerationConfig
from prefixdeploy.runtime.manifest import MANIFEST_NAME, read_manifest
from prefixdeploy.runtime.prefix import save_prefix

GREEDY = GenerationConfig(max_new_tokens=8, ignore_eos=True)


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def listed(directory: Path) -> dict[str, bytes]:
    """The manifest and every file it lists: what a reader of the bundle sees."""
    names = [MANIFEST_NAME, *read_manifest(directory).files]
    return {n: (directory / n).read_bytes() for n in names}


@pytest.fixture
def bundle(tiny_bundle, tmp_path) -> Path:
    return shutil.copytree(tiny_bundle("switchable"), tmp_path / "bundle")


@pytest.fixture
def qa_file(bundle, tmp_path) -> Path:
    """A prefix file with qa's keys and values, stored under the name 'qa2'."""
    with load_bundle(bundle) as b:
        path = tmp_path / "qa2.safetensors"
        save_prefix(b.prefixes["qa"].renamed("qa2"), path)
    return path


def test_add_list_run_and_remove(bundle, qa_file):
    code, out, err = cli("add-prefix", bundle, qa_file)
    assert code == 0, err
    assert "added prefix 'qa2' (8 positions)" in out
    code, out, _ = cli("add-prefix", bundle, qa_file, "--name", "other")
    assert code == 0
    manifest = read_manifest(bundle)
    assert manifest.prefix_names == ["summ", "qa", "qa2", "other"]
    assert manifest.files["prefixes/other.safetensors"] == manifest.prefix("other").sha256
    with load_bundle(bundle) as b:  # every hash checked
        want = b.generate_ids([b.encode("hi")], ["qa"], GREEDY)
        assert b.generate_ids([b.encode("hi")], ["qa2"], GREEDY) == want
        assert b.generate_ids([b.encode("hi")], ["other"], GREEDY) == want
    code, table, _ = cli("prefixes", bundle)
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "LENGTH", "SOURCE", "SHA256"]
    assert [line.split()[0] for line in lines[1:]] == ["summ", "qa", "qa2", "other"]
    assert lines[3].split()[1] == "8" and lines[3].split()[-1] == manifest.prefix("qa2").sha256
    assert "peft: " in lines[1]  # exported from a PEFT adapter
    code, out, _ = cli("remove-prefix", bundle, "qa2")
    assert code == 0 and "removed prefix 'qa2'" in out
    assert not (bundle / "prefixes/qa2.safetensors").exists()
    assert read_manifest(bundle).prefix_names == ["summ", "qa", "other"]
    with load_bundle(bundle) as b:
        assert b.generate_ids([b.encode("hi")], ["other"], GREEDY) == want


def test_remove_every_prefix_of_a_switchable_bundle(bundle):
    for name in ("summ", "qa"):
        assert cli("remove-prefix", bundle, name)[0] == 0
    assert cli("prefixes", bundle)[1].strip() == "(no prefixes)"
    with load_bundle(bundle) as b:
        assert len(b.generate_ids([b.encode("hi")], [None], GREEDY)[0]) == 8


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("add-prefix", "{bundle}", "{qa}", "--name", "summ"), "already has a prefix named 'summ'"),
        (("remove-prefix", "{bundle}", "nope"), "unknown prefix 'nope'; this bundle has: summ, qa"),
        (("add-prefix", "{bundle}", "{missing}"), "does not exist"),
        (("add-prefix", "{bundle}", "{garbage}"), "not a readable safetensors file"),
        (("add-prefix", "{bundle}", "{other_model}"), "2 layers × 4 kv heads × 16; bundle bundle has 2 layers × 2"),
        (("add-prefix", "{bundle}", "{qa}", "--name", "../x"), "prefix name '../x' is not valid"),
        (("prefixes", "{missing}"), "is not a bundle directory"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(bundle, qa_file, tiny_bundle, tmp_path, args, needle):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x05\x00not safetensors")
    with load_bundle(tiny_bundle("switchable", "gpt2")) as gpt2:
        save_prefix(gpt2.prefixes["qa"], tmp_path / "gpt2.safetensors")
    paths = {"bundle": bundle, "qa": qa_file, "missing": tmp_path / "nope", "garbage": garbage}
    paths["other_model"] = tmp_path / "gpt2.safetensors"
    before = snapshot(bundle)
    code, _, err = cli(*(a.format(**paths) for a in args))
    assert_user_error(code, err, needle)
    assert snapshot(bundle) == before


def test_baked_bundles(tiny_bundle, tiny_model_dir, peft_adapter, tmp_path, qa_file):
    baked = shutil.copytree(tiny_bundle("baked"), tmp_path / "baked")
    before = snapshot(baked)
    code, _, err = cli("add-prefix", baked, qa_file)
    assert_user_error(code, err, "only to a switchable bundle; this one is baked")
    code, _, err = cli("remove-prefix", baked, "summ")
    assert_user_error(code, err, "'summ' is the last prefix of a baked bundle")
    assert snapshot(baked) == before
    # A baked bank keeps its graph; removing one of two prefixes leaves the other selectable (prefix_ids still fed).
    specs = (f"summ={peft_adapter('llama', 5, seed=1)}", f"qa={peft_adapter('llama', 8, seed=2)}")
    bank = export_bundle(ExportConfig(str(tiny_model_dir("llama")), specs, tmp_path / "bank", mode="baked"))
    with load_bundle(bank) as b:
        want = b.generate_ids([b.encode("hi")], ["qa"], GREEDY)
    assert cli("remove-prefix", bank, "summ")[0] == 0
    with load_bundle(bank) as b:
        assert b.generate_ids([b.encode("hi")], ["qa"], GREEDY) == want
    code, _, err = cli("remove-prefix", bank, "qa")
    assert_user_error(code, err, "last prefix of a baked bundle")


POINTS = ("save_prefix", "sha256_file", "write_manifest_json", "publish")


@pytest.mark.parametrize("point", POINTS)
def test_an_error_at_any_step_leaves_the_bundle_byte_identical(bundle, qa_file, monkeypatch, point):
    calls = {"n": 0}
    real = getattr(_module_of(point), point)

    def fail(*args, **kwargs):
        calls["n"] += 1
        if point != "publish" or calls["n"] == 2:  # publish: the prefix file went in; fail on the manifest
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(_module_of(point), point, fail)
    before = snapshot(bundle)
    with pytest.raises(KeyboardInterrupt):
        bundle_prefixes.add_prefix_file(bundle, qa_file)
    assert snapshot(bundle) == before
    load_bundle(bundle).close()


def _module_of(point: str):
    from prefixdeploy.runtime import atomic

    return atomic if point == "publish" else bundle_prefixes


KILL = """
import os, sys
from prefixdeploy.runtime import atomic, bundle_prefixes
real, n = atomic.os.replace, int(sys.argv[3])
def replace(*args):
    global n
    n -= 1
    if n < 0:
        os._exit(9)
    real(*args)
atomic.os.replace = replace
getattr(bundle_prefixes, sys.argv[4])(sys.argv[1], sys.argv[2])
"""


@pytest.mark.parametrize(("action", "renames_before_kill"), [("add", 0), ("add", 1), ("remove", 0)])
def test_a_hard_kill_leaves_the_old_bundle_loadable(bundle, qa_file, action, renames_before_kill):
    before = listed(bundle)
    function, arg = ("add_prefix_file", str(qa_file)) if action == "add" else ("remove_prefix", "qa")
    argv = [sys.executable, "-c", KILL, str(bundle), arg, str(renames_before_kill), function]
    assert subprocess.run(argv, cwd=ROOT, timeout=120).returncode == 9
    assert listed(bundle) == before  # the manifest and every file it lists
    with load_bundle(bundle) as b:
        assert sorted(b.prefixes) == ["qa", "summ"]
    stray = set(snapshot(bundle)) - set(before)
    assert all(Path(s).name.startswith(".") or s == "prefixes/qa2.safetensors" for s in stray), stray
