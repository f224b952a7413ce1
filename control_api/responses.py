"""A response schema as the JSON body every API view answers with."""
from __future__ import annotations

from flask import Response
from pydantic import BaseModel


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # exclude_unset: optional objects (include=stats, ...) are absent unless asked for, not null.
    return Response(model.model_dump_json(exclude_unset=True), status=status, mimetype="application/json", headers=headers)
