"""The packages import each other only along the arrows docs/architecture.md allows (module level and in functions).

The allowed arrows are read from the document's table, so the document and this test cannot disagree. Run with
`pytest -s` to see every arrow between packages and the files that make it.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from repo_root import ROOT

PACKAGE = ROOT / "prefixdeploy"
ROOT_FILE = PACKAGE / "__init__.py"
DOC = ROOT / "docs" / "architecture.md"
ROW = re.compile(r"^\| (\w+) \| ([^|]*) \|")


def allowed_arrows(heading: str = "## The layers") -> dict[str, set[str]]:
    """{layer: the layers it may import}, from the first table under `heading` in docs/architecture.md."""
    table = DOC.read_text().split(heading, 1)[1].split("\n## ", 1)[0]
    allowed = {}
    for line in table.splitlines():
        m = ROW.match(line)
        if m and m.group(1) not in ("package", "part"):
            allowed[m.group(1)] = {w for w in re.findall(r"\w+", m.group(2)) if w != "nothing"}
    return allowed


def layer_of(module: str) -> str:
    """`prefixdeploy.runtime.bundle` -> runtime; the package root (the version) and `errors` are the bottom layer."""
    parts = module.split(".")
    if len(parts) == 1 or parts[1] in ("errors", "vocabulary"):
        return "errors"
    return parts[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    return imports_in(path.read_text(), module_name(path), is_package=path.name == "__init__.py")


def imports_by_layer(path: Path) -> dict[str, set[str]]:
    """{importing layer: the prefixdeploy modules it imports} for one file: its own layer, except in the package root.

    The root's PEP 562 `__getattr__` is the Python API's front door (`from prefixdeploy import load_bundle`): it
    imports the runtime when a name is first asked for. `import prefixdeploy`, which every import of a sub-package
    runs, never calls it, so the rest of the root stays in the bottom layer and the function is checked as the `api`
    row of docs/architecture.md.
    """
    if path != ROOT_FILE:
        return {layer_of(module_name(path)): imported_modules(path)}
    return root_imports(path.read_text())


def root_imports(text: str) -> dict[str, set[str]]:
    """The package root's imports: {"errors": outside its `__getattr__`, "api": inside it}."""
    lines = text.splitlines(keepends=True)
    lazy = [n for n in ast.parse(text).body if isinstance(n, ast.FunctionDef) and n.name == "__getattr__"]
    spans = [(n.lineno - 1, n.end_lineno) for n in lazy]
    own = [line for i, line in enumerate(lines) if not any(a <= i < b for a, b in spans)]
    api = [line for a, b in spans for line in lines[a:b]]
    return {
        "errors": imports_in("".join(own), "prefixdeploy", is_package=True),
        "api": imports_in("".join(api), "prefixdeploy", is_package=True),
    }


def imports_in(text: str, module: str, is_package: bool = False) -> set[str]:
    """Every prefixdeploy module the source of `module` imports, anywhere in it (relative imports resolved)."""
    here = module.split(".")
    package = here if is_package else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            found |= {f"{base}.{alias.name}" for alias in node.names if not alias.name.startswith("__")} | {base}
    return {m for m in found if m.split(".")[0] == "prefixdeploy"}


def package_arrows() -> dict[tuple[str, str], set[str]]:
    """{(importing layer, imported layer): the files that make that arrow}, for arrows between different layers."""
    arrows = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        for source, imported in imports_by_layer(path).items():
            for target in {layer_of(m) for m in imported} - {source}:
                arrows[source, target].add(str(path.relative_to(ROOT)))
    return arrows


def arrows_of(module: str, imported: set[str]) -> set[tuple[str, str]]:
    source = layer_of(module)
    return {(source, layer_of(m)) for m in imported if layer_of(m) != source}


def forbidden(arrows, allowed: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted(arrow for arrow in arrows if arrow[1] not in allowed.get(arrow[0], set()))


def test_every_import_follows_an_allowed_arrow():
    allowed, arrows = allowed_arrows(), package_arrows()
    print("\nimport arrows between packages:")
    for (source, target), files in sorted(arrows.items()):
        print(f"  {source} -> {target}  ({len(files)} files)")
    layers = {layer_of(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert not layers - set(allowed), f"packages missing from docs/architecture.md: {sorted(layers - set(allowed))}"
    bad = forbidden(arrows, allowed)
    assert not bad, "imports the architecture forbids: " + "; ".join(
        f"{s} -> {t} in {', '.join(sorted(arrows[s, t]))}" for s, t in bad
    )


def test_the_table_forbids_arrows_up_and_accepts_serving_on_the_runtime():
    """The check has teeth: the runtime may not import the exporter, nor the importers the exporter."""
    allowed = allowed_arrows()
    assert allowed["errors"] == set()
    assert allowed["runtime"] == {"errors"}
    assert allowed["serving"] == {"runtime", "errors"}
    assert "exporter" not in allowed["importers"] | allowed["training"] | allowed["models"]
    assert "cli" not in set().union(*(v for k, v in allowed.items() if k != "cli"))


def test_relative_and_function_level_imports_are_counted():
    text = "def f():\n    from prefixdeploy.exporter import export\n    from . import bundle\n"
    imported = imports_in(text, "prefixdeploy.runtime.probe")
    assert imported >= {"prefixdeploy.exporter.export", "prefixdeploy.runtime.bundle"}
    assert forbidden(arrows_of("prefixdeploy.runtime.probe", imported), allowed_arrows()) == [("runtime", "exporter")]
    serving = imports_in("from prefixdeploy.runtime.bundle import load_bundle\n", "prefixdeploy.serving.engine.engine")
    assert forbidden(arrows_of("prefixdeploy.serving.engine.engine", serving), allowed_arrows()) == []


def serving_part_of(module: str) -> str | None:
    """`prefixdeploy.serving.http.app` -> http; None outside serving's sub-packages (its __init__ included)."""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "serving" else None


def test_serving_parts_import_downward_only():
    """The engine never imports the HTTP layer (nor scale-out); the HTTP layer never imports scale-out."""
    allowed = allowed_arrows("## Inside serving")
    assert allowed == {"engine": set(), "http": {"engine"}, "scale": {"http", "engine"}}
    parts = {serving_part_of(module_name(p)) for p in (PACKAGE / "serving").rglob("*.py")} - {None}
    assert parts == set(allowed), f"serving parts missing from docs/architecture.md: {sorted(parts - set(allowed))}"
    bad = []
    for path in sorted((PACKAGE / "serving").rglob("*.py")):
        source = serving_part_of(module_name(path))
        for target in {serving_part_of(m) for m in imported_modules(path)} - {None, source}:
            if source is None or target not in allowed[source]:
                bad.append(f"{source} -> {target} in {path.relative_to(ROOT)}")
    assert not bad, "imports between serving's parts that the architecture forbids: " + "; ".join(bad)


def test_only_the_roots_getattr_may_import_the_runtime():
    """`from prefixdeploy import load_bundle` works, lazily: the root imports the runtime in `__getattr__` only."""
    allowed, root = allowed_arrows(), root_imports(ROOT_FILE.read_text())
    assert allowed["api"] == {"runtime", "errors"}
    assert {layer_of(m) for m in root["errors"]} <= {"errors"}
    assert {layer_of(m) for m in root["api"]} == {"runtime"}
    eager = root_imports("from prefixdeploy.runtime.bundle import load_bundle\n\ndef __getattr__(name):\n    pass\n")
    assert eager["api"] == set()
    assert forbidden({("errors", layer_of(m)) for m in eager["errors"]}, allowed) == [("errors", "runtime")]
