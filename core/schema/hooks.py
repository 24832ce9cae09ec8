"""Post-processing of the finished document (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"])."""

from typing import Any

RETRY_AFTER = {
    "description": "Seconds to wait before retrying.",
    "schema": {"type": "integer", "minimum": 0},
}


def retry_after_headers(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Every 429 and 503 says how long to wait in ``Retry-After``, and the document says so."""
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):  # the probes answer load balancers, not clients
            continue
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                if status in ("429", "503"):
                    response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER
    return result


SCHEME_DESCRIPTIONS = {
    "basicAuth": "The username and password of a Django staff user (operators only).",
    "cookieAuth": "The session of a Django staff user logged in at /admin/ (operators only).",
}


def security_scheme_descriptions(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Say who the credentials of each scheme belong to: there are no API users."""
    schemes = result.get("components", {}).get("securitySchemes", {})
    for name, description in SCHEME_DESCRIPTIONS.items():
        if name in schemes:
            schemes[name]["description"] = description
    return result
