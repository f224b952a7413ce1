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
