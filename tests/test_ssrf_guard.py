"""SSRF guard at create time: with ALLOW_PRIVATE_TARGETS off, a domain that resolves to a private,
loopback, link-local, multicast or reserved address is refused with 422 and nothing is created."""
from __future__ import annotations

import pytest

from crawler.addresses import is_public_address
from crawler.resolver import ForbiddenAddressError, GuardedResolver


@pytest.fixture
def strict_app(app):
    app.config["ALLOW_PRIVATE_TARGETS"] = False
    return app


@pytest.mark.parametrize(
    "domain",
    ["localhost:8080", "127.0.0.1", "http://10.1.2.3/", "192.168.0.10", "169.254.169.254", "[::1]:8000",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "[fd00::1]", "100.64.0.1"],
)  # fmt: skip
def test_private_targets_are_refused_with_422(strict_app, org, scheduler, domain):
    client = strict_app.test_client()
    response = client.post("/v1/jobs", json={"domain": domain}, headers=org.headers)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "forbidden_target"
    assert scheduler.scheduled == []
    listed = client.get("/v1/jobs", headers=org.headers).get_json()
    assert listed["pagination"]["total"] == 0  # nothing half-made


def test_unresolvable_domain_is_accepted_and_left_to_the_crawl(strict_app, org):
    response = strict_app.test_client().post("/v1/jobs", json={"domain": "no-such-host.invalid"}, headers=org.headers)
    assert response.status_code == 201


def test_private_targets_are_allowed_when_the_operator_says_so(app, org):
    assert app.config["ALLOW_PRIVATE_TARGETS"] is True
    assert app.test_client().post("/v1/jobs", json={"domain": "localhost:8080"}, headers=org.headers).status_code == 201


@pytest.mark.parametrize(
    ("address", "public"),
    [("8.8.8.8", True), ("2606:4700::1111", True), ("10.0.0.1", False), ("172.16.5.4", False),
     ("127.0.0.53", False), ("::ffff:127.0.0.1", False), ("fe80::1%eth0", False), ("100.64.1.1", False)],
)  # fmt: skip
def test_address_classification(address, public):
    assert is_public_address(address) is public


def test_resolver_refuses_a_private_answer_and_trusts_pinned_names():
    resolver = GuardedResolver(None, 0, 5.0, {"pinned.test": "127.0.0.1"}, allow_private=False)
    assert resolver.getHostByName("pinned.test").result == "127.0.0.1"
    with pytest.raises(ForbiddenAddressError):
        resolver._check("10.0.0.7", "internal.test")
    assert resolver._check("93.184.216.34", "example.test") == "93.184.216.34"
