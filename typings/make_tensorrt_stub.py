"""Write typings/tensorrt/__init__.pyi from the tensorrt-stubs wheel: the fixed copy mypy checks the backend against.

Usage: pip download --no-deps tensorrt-stubs==10.8.0.43.1 -d /tmp/stubs, unzip the wheel, then
    python typings/make_tensorrt_stub.py /tmp/stubs/x/tensorrt_bindings/tensorrt.pyi
The stub as published does not parse (a non-default parameter after defaults; parameters named `in`) and declares
the module-level `bool` (TensorRT's DataType.BOOL), which shadows the builtin in its own annotations.
"""

import ast
import re
import sys
from pathlib import Path

HEADER = """\
# Type stubs of the `tensorrt` Python package (TensorRT 10.x API), for mypy over prefixdeploy's TensorRT backend.
#
# Source: the `tensorrt-stubs` package 10.8.0.43.1 on PyPI (https://github.com/sync-dev-org/tensorrt-stubs), file
# tensorrt_bindings/tensorrt.pyi (what `tensorrt` re-exports), MIT licence (typings/tensorrt/LICENSE). 10.8 is the
# oldest release on PyPI; JetPack 6 ships TensorRT 10.3, so an API added between 10.4 and 10.8 would pass here.
# Made by typings/make_tensorrt_stub.py, which changed: add_scale_nd's defaults before the non-default `channel_axis`
# dropped; parameters named `in` (a keyword) renamed `in_`; `bool` in annotations made `builtins.bool` (the module's
# own `bool` is a DataType); the undefined `capsule` and bare `...` annotations made `typing.Any`; docstrings removed
# (ast.unparse normalizes the formatting); `__version__` added. Its remaining inconsistencies (self types, overrides)
# are silenced for this module only, in pyproject.toml's [tool.mypy].
"""


class _FixAnnotations(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id == "bool":
            return ast.Attribute(ast.Name("builtins", ast.Load()), "bool", ast.Load())
        if node.id == "capsule":
            return ast.Attribute(ast.Name("typing", ast.Load()), "Any", ast.Load())
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if node.value is Ellipsis:
            return ast.Attribute(ast.Name("typing", ast.Load()), "Any", ast.Load())
        return node


def _fix_annotations(tree: ast.Module) -> None:
    fix = _FixAnnotations()
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            node.annotation = fix.visit(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            node.returns = fix.visit(node.returns)
        elif isinstance(node, ast.AnnAssign) and not (isinstance(node.target, ast.Name) and node.target.id == "bool"):
            node.annotation = fix.visit(node.annotation)


def _strip_docstrings(tree: ast.Module) -> None:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                if isinstance(body[0].value.value, str):
                    node.body = body[1:] or [ast.Expr(ast.Constant(...))]


def main(source: Path) -> None:
    text = source.read_text()
    scale = "shift: Weights = None, scale: Weights = None, power: Weights = None, channel_axis: int)"
    assert text.count(scale) == 1
    fixed = "shift: Weights | None, scale: Weights | None, power: Weights | None, channel_axis: int)"
    text = text.replace(scale, fixed)
    text = re.sub(r"\bin: list\[", "in_: list[", text)
    tree = ast.parse(text)
    _strip_docstrings(tree)
    _fix_annotations(tree)
    tree.body.insert(1, ast.Import([ast.alias("builtins")]))  # after `from __future__ import annotations`
    out = Path(__file__).parent / "tensorrt" / "__init__.pyi"
    out.write_text(HEADER + ast.unparse(tree) + "\n__version__: str\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
