"""``/healthz`` and ``/readyz`` in the document (SPECTACULAR_SETTINGS["APPEND_PATHS"]).

They are plain Django views (chatapi.health), kept out of DRF so that the liveness probe costs
nothing, so spectacular cannot see them; they are described here by hand, with components of
their own (APPEND_COMPONENTS) so that generated clients name them as the domain does.
"""

from typing import Any


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


PROBE_COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Health": {
            "type": "object",
            "properties": {"status": {"type": "string", "description": "Always `ok`."}},
            "required": ["status"],
        },
        "ReadinessChecks": {
            "type": "object",
            "description": "Each dependency and whether it answered.",
            "properties": {name: {"type": "boolean"} for name in ("database", "redis", "search")},
            "required": ["database", "redis", "search"],
        },
        "Readiness": {
            "type": "object",
            "properties": {
                "status": {"type": "string", "description": "Always `ok`."},
                "checks": _ref("ReadinessChecks"),
            },
            "required": ["status", "checks"],
        },
        "NotReady": {
            "type": "object",
            "description": "The error envelope, plus which dependency did not answer.",
            "properties": {"error": _ref("ErrorDetail"), "checks": _ref("ReadinessChecks")},
            "required": ["error", "checks"],
        },
    }
}
_HEALTHY = {"status": "ok"}
_READY = {"status": "ok", "checks": {"database": True, "redis": True, "search": True}}
_NOT_READY = {
    "error": {"code": "not_ready", "message": "Not ready: redis did not answer."},
    "checks": {"database": True, "redis": False, "search": True},
}


def _json(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema, "examples": {"example": {"value": example}}}}


PROBE_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "operationId": "operations_health",
            "summary": "Liveness: the process is up",
            "description": (
                "Answers 200 as long as the web process serves requests. It touches no "
                "dependency and runs no SQL, so it is safe to call as often as a load "
                "balancer likes. `HEAD` is answered too."
            ),
            "tags": ["operations"],
            "responses": {
                "200": {
                    "description": "The process is up.",
                    "content": _json(_ref("Health"), _HEALTHY),
                }
            },
        }
    },
    "/readyz": {
        "get": {
            "operationId": "operations_readiness",
            "summary": "Readiness: every dependency answers",
            "description": (
                "Checks the database, Redis and the search backend. 200 when all answer; 503 "
                "naming those that do not, so an orchestrator stops routing traffic here."
            ),
            "tags": ["operations"],
            "responses": {
                "200": {
                    "description": "Every dependency answered.",
                    "content": _json(_ref("Readiness"), _READY),
                },
                "503": {
                    "description": "A dependency did not answer. Error code: `not_ready`.",
                    "content": _json(_ref("NotReady"), _NOT_READY),
                },
            },
        }
    },
}
