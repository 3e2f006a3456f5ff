"""OpenAPI pieces the routes share: error responses and the two request bodies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from facedb.api.errors import ErrorOut
from facedb.api.schemas import MAX_IMAGES
from facedb.api.uploads import IMAGE_PART

_DESCRIPTIONS = {
    400: "Unreadable image, invalid base64 or malformed body",
    401: "No API key, or an unknown, revoked or expired one",
    403: "The key's role may not do this",
    404: "Unknown person",
    409: "Duplicate name, or a face already enrolled under another name",
    413: "Request larger than the limit",
    415: "Neither multipart/form-data nor application/json",
    422: "No face, bad quality, several faces, or invalid fields",
    503: "Database unreachable, or models unusable",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The documented error responses of a route, all in the JSON error form."""
    return {s: {"model": ErrorOut, "description": _DESCRIPTIONS[s]} for s in statuses}


def image_body(
    fields: type[BaseModel], json_model: type[BaseModel], *, many: bool
) -> dict[str, Any]:
    """openapi_extra for a route that reads images as multipart or as base64 JSON."""
    form = fields.model_json_schema()
    binary: dict[str, Any] = {"type": "string", "format": "binary"}
    image: dict[str, Any] = (
        {"type": "array", "items": binary, "minItems": 1, "maxItems": MAX_IMAGES}
        if many
        else binary
    )
    properties = {IMAGE_PART: image, **form.get("properties", {})}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": [IMAGE_PART, *form.get("required", [])],
                        "additionalProperties": False,
                    }
                },
                "application/json": {"schema": json_model.model_json_schema()},
            },
        }
    }
