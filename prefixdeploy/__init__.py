"""prefixdeploy: deploy prefix-tuned decoder LMs as ONNX bundles with a torch-free runtime.

The Python API's front door is `from prefixdeploy import load_bundle, GenerationConfig`. Those names are imported
from the runtime on first use (PEP 562 `__getattr__`), not here: every import of a sub-package runs this file first,
so it stays at the bottom of docs/architecture.md's layers and `import prefixdeploy` loads nothing else.
"""

__version__ = "0.1.0"

__all__ = ["GenerationConfig", "__version__", "load_bundle"]


def __getattr__(name: str):
    """The runtime's `load_bundle` and `GenerationConfig`, imported when first asked for (then kept here)."""
    if name == "load_bundle":
        from prefixdeploy.runtime.bundle import load_bundle as value
    elif name == "GenerationConfig":
        from prefixdeploy.runtime.generate import GenerationConfig as value
    else:
        raise AttributeError(f"module 'prefixdeploy' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
