"""The shared library under every app: errors, pagination, the Redis client, content negotiation,
request parsing, serializer fields, throttling, logging and the OpenAPI schema's helpers.

It imports no app and no part of the write engine (``pipeline``); everything else may import it.
"""
