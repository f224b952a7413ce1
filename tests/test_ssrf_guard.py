"""SSRF guard at create time: with ALLOW_PRIVATE_TARGETS off, a domain that resolves to a private,
loopback, link-local, multicast or reserved address is refused with 422 and nothing is created."""
from __future__ import annotations

import pytest

from contract.addresses import is_public_address
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


# IPv6 addresses that lead to an IPv4 address are judged by where they lead.
@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
        ("2002:c0a8:1::", False),  # 6to4 of 192.168.0.1
        ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254 (cloud metadata)
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::808:808", False),  # RFC 8215 local-use NAT64: never global
        ("::ffff:127.0.0.1", False),  # IPv4-mapped
        ("::ffff:10.1.2.3", False),
        ("::ffff:8.8.8.8", True),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated, inside reserved ::/8)
        ("::8.8.8.8", False),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
        ("2001:0:808:808:8000:63bf:f7f7:f7f7", False),  # Teredo with public server and client: 2001::/32 is not global
        ("2606:4700::1111", True),
    ],
)  # fmt: skip
def test_addresses_that_embed_an_ipv4_address_are_judged_by_it(address, public):
    assert is_public_address(address) is public


@pytest.mark.parametrize("domain", ["[2002:7f00:1::]", "[64:ff9b::7f00:1]:8080", "http://[64:ff9b::a00:1]/"])
def test_ipv6_forms_of_private_ipv4_targets_are_refused_with_422(strict_app, org, scheduler, domain):
    response = strict_app.test_client().post("/v1/jobs", json={"domain": domain}, headers=org.headers)
    assert response.status_code == 422 and response.get_json()["error"]["code"] == "forbidden_target"
    assert scheduler.scheduled == []


def test_a_nat64_form_of_a_public_address_is_accepted(strict_app, org):
    response = strict_app.test_client().post("/v1/jobs", json={"domain": "[64:ff9b::808:808]"}, headers=org.headers)
    assert response.status_code == 201, response.get_json()


def test_resolver_refuses_a_private_answer_and_trusts_pinned_names():
    resolver = GuardedResolver(None, 0, 5.0, {"pinned.test": "127.0.0.1", "pinned6.test": "::1"}, allow_private=False)
    assert resolver.addresses("pinned.test").result == ["127.0.0.1"]
    assert resolver.addresses("Pinned6.test").result == ["::1"]
    with pytest.raises(ForbiddenAddressError):
        resolver._check(["93.184.216.34", "10.0.0.7"], "internal.test")  # one private address is enough
    with pytest.raises(ForbiddenAddressError):
        resolver._check(["2002:7f00:1::"], "sixtofour.test")
    assert resolver._check(["93.184.216.34", "2606:4700::1111"], "example.test") == ["93.184.216.34", "2606:4700::1111"]
