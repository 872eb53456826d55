"""Serving: the continuous-batching engine (usable without HTTP) and the OpenAI-compatible HTTP server.

The HTTP modules need the serve extra (`pip install 'prefixdeploy[serve]'`); importing this package alone does not.
"""
