"""The serving engine: requests in, token events out; the scheduler plans each step and the engine executes it.

No HTTP here (tests/test_layers.py checks that the engine never imports `serving.http` or `serving.scale`).
"""
