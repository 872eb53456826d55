"""Hugging Face decoders as the toolchain sees them: loading (hub id, directory, `.gguf`), the supported families
(`archs/`), and the facts a prefix must fit. Used by the importers, the exporter and training; see
docs/architecture.md for why it sits below them.
"""
