"""drf-spectacular's AutoSchema, minus the empty security requirement of public operations.

Spectacular writes ``security: [{}]`` ("no credentials is fine too") on every operation whose
permission is ``AllowAny``. With no security declared at the top of the document, leaving the
key out already means "public"; the ``{}`` only makes client generators build an
authenticated client for calls that need none. Operations with real schemes keep them.
"""

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_auth(self) -> list[dict[str, Any]]:
        return [requirement for requirement in super().get_auth() if requirement]
