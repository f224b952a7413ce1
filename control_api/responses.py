"""A response schema as the JSON body every API view answers with, and the service's public URLs."""
from __future__ import annotations

from flask import Response, current_app, request
from pydantic import BaseModel


def json_response(model: BaseModel, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    # exclude_unset: optional objects (include=stats, ...) are absent unless asked for, not null.
    return Response(model.model_dump_json(exclude_unset=True), status=status, mimetype="application/json", headers=headers)


def public_url(path: str) -> str:
    """`path` on PUBLIC_BASE_URL (behind a proxy, the address the world uses), else on the host this
    request came to."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url
    return f"{base.rstrip('/')}{path}"
