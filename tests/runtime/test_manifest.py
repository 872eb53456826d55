"""The bundle manifest: JSON round trip, the format version checked first, and file hashes checked on demand."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from prefixdeploy.errors import BundleError
from prefixdeploy.runtime.manifest import MANIFEST_NAME, Manifest, check_files, read_manifest


def test_manifest_round_trips_through_json(tiny_bundle):
    manifest = read_manifest(tiny_bundle("baked"))
    assert Manifest.from_json(json.loads(json.dumps(manifest.to_json()))) == manifest
    assert manifest.prefix_names == [p.name for p in manifest.prefixes]


def test_a_graph_without_a_recipe_reads_as_its_default_and_others_have_none(tiny_bundle, tmp_path):
    """Bundles exported before the manifest recorded recipes hold int4 mixed and int8 blocks graphs (the only
    recipes there were)."""
    data = read_manifest(tiny_bundle("switchable")).to_json()
    data["graphs"] = [
        {"file": "a.onnx", "precision": "int4", "kind": "ort"},
        {"file": "c.onnx", "precision": "int8", "kind": "ort"},
        {"file": "b.onnx", "precision": "fp32"},
    ]
    legacy, int8, fp32 = Manifest.from_json(data).graphs
    assert (legacy.recipe, legacy.weights, fp32.recipe, fp32.weights) == ("mixed", "int4 mixed", None, "fp32")
    assert (int8.recipe, int8.weights) == ("blocks", "int8 blocks")
    pure, dynamic = replace(legacy, recipe="pure"), replace(int8, recipe="dynamic")
    assert [g.to_json() for g in (legacy, pure, int8, dynamic, fp32)] == [
        {"file": "a.onnx", "precision": "int4", "kind": "ort"},  # mixed unwritten: older readers still read it
        {"file": "a.onnx", "precision": "int4", "kind": "ort", "recipe": "pure"},
        {"file": "c.onnx", "precision": "int8", "kind": "ort"},  # blocks unwritten, as mixed
        {"file": "c.onnx", "precision": "int8", "kind": "ort", "recipe": "dynamic"},
        {"file": "b.onnx", "precision": "fp32", "kind": "portable"},  # no recipe key outside int4 and int8
    ]


def test_a_newer_format_version_is_refused_with_what_to_do(tiny_bundle, tmp_path):
    bundle = shutil.copytree(tiny_bundle("switchable"), tmp_path / "b")
    data = json.loads((bundle / MANIFEST_NAME).read_text())
    data["format_version"] += 1
    (bundle / MANIFEST_NAME).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="newer than this runtime reads.*upgrade prefixdeploy"):
        read_manifest(bundle)


def test_check_files_names_a_missing_or_changed_file(tiny_bundle, tmp_path):
    bundle = shutil.copytree(tiny_bundle("switchable"), tmp_path / "b")
    manifest = read_manifest(bundle)
    check_files(manifest, bundle)
    prefix_file = bundle / manifest.prefixes[0].file
    prefix_file.write_bytes(prefix_file.read_bytes()[:-1] + b"\0")
    with pytest.raises(BundleError, match=f"{manifest.prefixes[0].file} does not match its manifest hash"):
        check_files(manifest, bundle)
    prefix_file.unlink()
    with pytest.raises(BundleError, match="is missing"):
        check_files(manifest, bundle)


def test_unknown_prefix_lists_the_known(tiny_bundle):
    manifest = read_manifest(tiny_bundle("switchable"))
    with pytest.raises(BundleError, match="unknown prefix 'nope'; this bundle has: "):
        manifest.prefix("nope")
