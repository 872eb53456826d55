"""Serving: a continuous-batching engine over the runtime's in-place KV buffers, and an OpenAI-compatible server.

`engine.Engine` owns one thread and the KV slots; requests (`submit(prompt_ids, prefix, params)`) join the running
batch at the next step, rows of different prefixes (and rows without one) decode together, and each request's
tokens arrive as an async stream of `TokenEvent`s. The engine imports the runtime, never torch or an HTTP framework;
the HTTP server (`server.py`, `app.py`; needs `pip install 'prefixdeploy[serve]'`) wraps the same engine, and so can
Ray Serve or Triton. Importing this package alone imports neither.
"""
