"""The OpenAI-compatible HTTP layer over one engine: routes, request parsing, responses, errors, prefixes, metrics."""
