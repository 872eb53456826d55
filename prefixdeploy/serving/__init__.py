"""Serving: a continuous-batching engine over the runtime's KV slots, its OpenAI-compatible HTTP layer, and scale-out.

The sub-packages follow a request's path:
- `engine/`: the engine thread (`engine.Engine`), the scheduler that plans each step, the requests and their events.
  It imports the runtime, never torch or an HTTP framework, and never the HTTP layer.
- `http/`: the OpenAI-compatible server around one engine (FastAPI; `pip install 'prefixdeploy[serve]'`).
- `scale/`: Ray Serve (prefix-affine routing, the prefix store) and the Triton model over the same engine and routes.
Importing this package alone imports none of them.
"""
