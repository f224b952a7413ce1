"""Assertions shared by the API tests."""
from __future__ import annotations


def assert_error(response, status: int, code: str | None, field: str | None = None) -> dict:
    """The one error shape: the status, `{"error": {"code", "message"}}` as JSON (never an HTML page
    that could reflect the input), the code, a message, and the field named in the message."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if field is not None:
        assert field in body["error"]["message"]
    return body["error"]


def make_test_app(database_url: str, scheduler=None, **config):
    """The API as the tests run it: loopback targets allowed, no rate limits (per token, or of
    failed authentications per address), a fixed dashboard SECRET_KEY, unless `config` says otherwise; `scheduler` replaces the
    scrapyd client built from SCRAPYD_URLS. The caller disposes of `app.extensions["db_engine"]`."""
    from control_api import create_app

    app = create_app({"TESTING": True, "DATABASE_URL": database_url, "ALLOW_PRIVATE_TARGETS": True,
                      "RATE_LIMIT_PER_MINUTE": 0, "AUTH_FAILURES_PER_MINUTE": 0,
                      "SECRET_KEY": "test-secret-key", **config})  # fmt: skip
    if scheduler is not None:
        app.extensions["scheduler"] = scheduler
    return app
