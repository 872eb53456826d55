"""prefixdeploy: deploy prefix-tuned decoder LMs as ONNX bundles with a torch-free runtime."""

__version__ = "0.1.0"
