"""The dashboard: server-rendered pages at /app for people, on the same service layer as /v1.

Sign-in takes an API token and leaves a session cookie (signed with SECRET_KEY, HttpOnly,
SameSite=Lax, Secure over https) holding a random session id whose session the database keeps
(session.py), checked on every request, so signing out or revoking the token ends it on the server.
Every form carries a CSRF token (Flask-WTF); the check runs for the dashboard's posts only, since /v1
is authenticated by bearer tokens that a browser never sends on its own. Pages are scoped to the
token's organisation exactly as /v1 is: another organisation's job is a 404.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from control_api.credentials import ensure_secret_key

csrf = CSRFProtect()

SESSION_HOURS = 12  # idle time after which the dashboard asks for the token again


class SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over https (Flask can only
    make it always or never Secure, and `make run` serves plain http on loopback)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure or bool(app.config["SESSION_COOKIE_SECURE"])


def init_app(app: Flask) -> None:
    # The views modules register their routes on blueprint.bp.
    from control_api.dashboard import change_views, docs, page_views, schedule_views  # noqa: F401
    from control_api.dashboard import trigger_views, views, webhook_views  # noqa: F401
    from control_api.dashboard import chains, figures
    from control_api.dashboard.blueprint import bp

    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = ensure_secret_key(app.config.get("SECRET_KEY_FILE"))
    app.config.update(
        SESSION_COOKIE_NAME="crawl_session",
        SESSION_COOKIE_PATH="/app",  # never sent to /v1, which takes bearer tokens only
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        WTF_CSRF_CHECK_DEFAULT=False,  # checked by the dashboard's before_request, not on /v1
        WTF_CSRF_TIME_LIMIT=None,  # a token lives as long as its session
    )
    if app.config.get("BEHIND_PROXY"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=0, x_proto=1, x_host=0, x_port=0, x_prefix=0)
    app.session_interface = SessionInterface()
    csrf.init_app(app)
    figures.register(app)
    chains.register(app)
    app.register_blueprint(bp)
    app.register_blueprint(docs.bp)
