"""SSRF guard at create time: with ALLOW_PRIVATE_TARGETS off, a domain that resolves to a private,
loopback, link-local, multicast or reserved address is refused with 422 and nothing is created."""
from __future__ import annotations

import pytest

import ipaddress
import socket

from contract import addresses
from contract.addresses import SPECIAL_PURPOSE_SOURCE, is_public_address
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
        ("2002:808:808::1", False),  # 6to4 of 8.8.8.8: 2002::/16 is not globally reachable (IANA N/A, CPython 3.14)
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


# Blocks that Python 3.11's ipaddress counted as public (issue 18): current IANA registries, as CPython
# 3.14 keeps them, and site-local.
@pytest.mark.parametrize("address", [
    "192.0.0.8", "192.0.0.11", "192.0.0.100", "192.0.0.255",  # IETF protocol assignments, 192.0.0.0/24
    "3fff::1", "3fff:fff:ffff::1",  # RFC 9637 documentation
    "fec0::1", "feff:ffff::1",  # site-local (RFC 3879)
    "2001:db8::1", "100::1", "64:ff9b:1::808:808", "2001:2::1", "2001:10::1", "198.18.0.1", "192.0.2.1",
    "198.51.100.7", "203.0.113.9", "255.255.255.255", "192.0.0.170", "192.0.0.171", "2002:808:808::1",
])  # fmt: skip
def test_special_purpose_blocks_are_not_public(address):
    assert is_public_address(address) is False


@pytest.mark.parametrize("address", [
    "8.8.8.8", "1.1.1.1", "93.184.216.34", "192.0.1.1", "100.128.0.1", "198.20.0.1", "2606:4700::1111",
    "2a00:1450:4001::1", "2c0f:fb50::1", "::ffff:93.184.216.34", "64:ff9b::5db8:d822",
])  # fmt: skip
def test_public_addresses_stay_public(address):
    assert is_public_address(address) is True


def test_the_tables_name_their_source_and_only_add_to_the_running_pythons():
    """An address is public only when our tables and the running Python's both say so: a newer Python
    adds its blocks; an older one (3.11 here) does not take ours away."""
    assert "CPython 3.14" in SPECIAL_PURPOSE_SOURCE and "IANA" in SPECIAL_PURPOSE_SOURCE
    for block in addresses.NOT_GLOBAL_IPV4 + addresses.NOT_GLOBAL_IPV6:
        for ip in (block.network_address, block.broadcast_address):
            if not any(ip in allowed for allowed in addresses.GLOBAL_IPV4 + addresses.GLOBAL_IPV6):
                assert is_public_address(str(ip)) is False, ip
    for python_private in (ipaddress._IPv4Constants._private_networks + ipaddress._IPv6Constants._private_networks):
        assert is_public_address(str(python_private.network_address)) is False, python_private


def test_a_refusal_never_says_where_a_name_resolves(strict_app, org, monkeypatch):
    """422 says that the name leads into a private network, not which address it has there."""
    internal = {"intranet.example": "10.20.30.40", "metadata.example": "169.254.169.254", "v6.example": "fd12:3456::7"}

    def fake_getaddrinfo(host, port, *args, **kwargs):
        address = internal.get(host, host)
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    client = strict_app.test_client()
    for name, address in internal.items():
        for path, body in (("/v1/jobs", {"domain": name}), ("/v1/schedules", {"domain": name, "interval_hours": 24}),
                           ("/v1/triggers", {"domain": name, "name": "cms"}),
                           ("/v1/webhooks", {"url": f"https://{name}/hook", "events": ["job.completed"]})):  # fmt: skip
            response = client.post(path, json=body, headers=org.headers)
            error = response.get_json()["error"]
            assert (response.status_code, error["code"]) == (422, "forbidden_target"), (path, error)
            assert address not in error["message"] and f"{name} resolves to a private or reserved address" in error["message"]
    literal = client.post("/v1/jobs", json={"domain": "10.20.30.40"}, headers=org.headers).get_json()["error"]
    assert "10.20.30.40 is a private or reserved address" in literal["message"]  # what the client typed itself


def test_the_crawlers_refusal_does_not_say_where_a_name_resolves():
    resolver = GuardedResolver(None, 0, 5.0, {}, allow_private=False)
    with pytest.raises(ForbiddenAddressError) as refused:
        resolver._check(["93.184.216.34", "10.0.0.7"], "internal.test")
    assert "10.0.0.7" not in str(refused.value) and "internal.test resolves to a private or reserved address" in str(refused.value)


def test_the_aiohttp_resolver_applies_the_same_guard(monkeypatch):
    """The default download handler (aiohttp) resolves names itself: its resolver refuses private
    answers, trusts pinned names, and its refusal reaches the record as forbidden_target."""
    import asyncio

    from crawler.handlers import GuardedAiohttpResolver
    from crawler.records import classify_failure
    from crawler.resolver import AddressGuard
    from scrapy.exceptions import CannotResolveHostError

    guard = AddressGuard({"pinned.test": "10.1.2.3"}, allow_private=False)
    monkeypatch.setattr(guard, "lookup", lambda name: {"public.test": ["93.184.216.34"]}.get(name, ["10.0.0.7"]))
    resolver = GuardedAiohttpResolver(guard, timeout=5.0)

    assert [r["host"] for r in asyncio.run(resolver.resolve("pinned.test", 80))] == ["10.1.2.3"]
    assert [(r["host"], r["port"]) for r in asyncio.run(resolver.resolve("public.test", 443))] == [("93.184.216.34", 443)]
    with pytest.raises(OSError) as refused:
        asyncio.run(resolver.resolve("intranet.test", 80))
    assert isinstance(refused.value.__cause__, ForbiddenAddressError) and "10.0.0.7" not in str(refused.value)
    wrapped = CannotResolveHostError(str(refused.value))
    wrapped.__cause__ = refused.value
    assert classify_failure(wrapped, "intranet.test")[0] == "forbidden_target"
    with pytest.raises(ForbiddenAddressError):  # IP literals never reach a resolver in aiohttp
        guard.literal("10.0.0.7")
    assert guard.literal("93.184.216.34") == ["93.184.216.34"] and guard.literal("public.test") is None


def test_a_slow_name_lookup_is_a_dns_failure_not_a_hang(monkeypatch):
    import asyncio
    import time

    from crawler.handlers import GuardedAiohttpResolver
    from crawler.resolver import AddressGuard

    guard = AddressGuard({}, allow_private=False)
    monkeypatch.setattr(guard, "lookup", lambda name: time.sleep(2) or ["93.184.216.34"])

    async def waited() -> float:  # measured inside the loop: asyncio.run then waits for the lookup's thread
        started = time.monotonic()
        with pytest.raises(OSError, match="no answer in 0.2 s"):
            await GuardedAiohttpResolver(guard, timeout=0.2).resolve("slow.test")
        return time.monotonic() - started

    assert asyncio.run(waited()) < 1.5
