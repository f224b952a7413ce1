"""GET /docs: the OpenAPI document (/v1/openapi.json) in Swagger UI, every asset served by us.

Swagger UI's files come from the flask-openapi3-swagger package (its pinned version in
requirements.txt), served under /docs/assets; our page and its start-up script are ours, so a
Content-Security-Policy can forbid inline scripts. flask-openapi3's own document UI stays off
(control_api/openapi.py).
"""
from __future__ import annotations

from pathlib import Path

import flask_openapi3_swagger
from flask import Blueprint, make_response, render_template

SWAGGER_ASSETS = Path(flask_openapi3_swagger.__file__).parent / "templates" / "swagger"

bp = Blueprint("docs", __name__, url_prefix="/docs", static_folder=SWAGGER_ASSETS, static_url_path="/assets",
               template_folder="templates")  # fmt: skip

# Swagger UI sets style attributes from its scripts and draws icons from data: URIs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")  # fmt: skip


@bp.get("")
def index():
    response = make_response(render_template("dashboard/docs.html", nav_section="docs"))
    response.headers["Content-Security-Policy"] = CSP
    return response
