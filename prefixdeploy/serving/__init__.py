"""Serving: a continuous-batching engine over the runtime's in-place KV buffers, usable without HTTP.

`engine.Engine` owns one thread and the KV slots; requests (`submit(prompt_ids, prefix, params)`) join the running
batch at the next step, rows of different prefixes (and rows without one) decode together, and each request's
tokens arrive as an async stream of `TokenEvent`s. Imports the runtime, never torch or an HTTP framework; the HTTP
server (and later Ray Serve or Triton) wraps the same engine.
"""
