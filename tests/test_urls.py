"""URL normalisation and site scope, IPv6 literals included: a host that is an IPv6 address keeps
its brackets in every URL the crawler builds, so the URL still parses to the same host and port."""
from __future__ import annotations

import pytest

from contract.targets import parse_domain
from crawler.urls import SiteScope, normalise, normalise_within


@pytest.mark.parametrize(
    ("url", "canonical", "key", "host", "port"),
    [
        ("http://[::1]:8081/", "http://[::1]:8081/", "[::1]:8081/", "::1", 8081),
        ("http://[::1]:8081/a/?b=2&a=1#top", "http://[::1]:8081/a/?a=1&b=2", "[::1]:8081/a?a=1&b=2", "::1", 8081),
        ("HTTP://[0:0:0:0:0:0:0:1]:8081/page/", "http://[::1]:8081/page/", "[::1]:8081/page", "::1", 8081),
        ("https://[2001:DB8::1]/x", "https://[2001:db8::1]/x", "[2001:db8::1]/x", "2001:db8::1", None),
        ("http://[2001:db8::1]:80/", "http://[2001:db8::1]/", "[2001:db8::1]/", "2001:db8::1", None),
        ("http://127.0.0.1:8081/a/", "http://127.0.0.1:8081/a/", "127.0.0.1:8081/a", "127.0.0.1", 8081),
        ("http://Site.Test:80/a/", "http://site.test/a/", "site.test/a", "site.test", None),
    ],
)  # fmt: skip
def test_normalise_keeps_ipv6_brackets(url, canonical, key, host, port):
    assert normalise(url) == (canonical, key, host, port)


@pytest.mark.parametrize("url", ["http://[::1/", "http://[not-an-address]/", "http://[::1]:99999/", "ftp://[::1]/"])
def test_broken_ipv6_urls_are_not_crawlable(url):
    assert normalise(url) is None


def test_the_job_domain_round_trips_through_the_spiders_start_url():
    for domain in ("http://[::1]:8081/", "[::1]:8081", "[2001:db8::1]", "https://[2001:DB8:0::1]/path"):
        target = parse_domain(domain)
        start = f"{target.scheme or 'https'}://{target.name}/"
        canonical, _, host, port = normalise(start)
        assert (host, port) == (target.host, target.port)
        assert parse_domain(canonical).name == target.name


def test_an_ipv6_site_has_no_subdomains():
    scope = SiteScope("::1", 8081, allow_subdomains=True)
    assert scope.contains("::1", 8081)
    assert not scope.contains("::2", 8081) and not scope.contains("::1", 8082)


def test_an_ipv4_site_has_no_subdomains():
    scope = SiteScope("127.0.0.1", 8081, allow_subdomains=True)
    assert not scope.contains("10.0.0.1", 8081)  # both "end with .0.1": not a shared domain


def test_an_ipv6_job_keeps_its_brackets_from_create_to_the_spider(client, org, scheduler):
    response = client.post("/v1/jobs", json={"domain": "http://[::1]:8081/"}, headers=org.headers)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["domain"] == "[::1]:8081"
    _, spider_args, _ = scheduler.scheduled[-1]
    assert (spider_args["domain"], spider_args["scheme"]) == ("[::1]:8081", "http")
    assert normalise(f"{spider_args['scheme']}://{spider_args['domain']}/")[0] == "http://[::1]:8081/"


@pytest.mark.parametrize(
    "url",
    ["http://site.test/a/?b=2&a=1#top", "https://WWW.Site.Test:443/x/", "http://blog.site.test/caf\u00e9", "http://other.test/x",
     "http://site.test:8080/", "http://[::1]/", "http://[::1/", "mailto:x@site.test", "http://site.test:99999/"],
)  # fmt: skip
def test_normalise_within_is_normalise_for_the_sites_urls_and_none_for_the_rest(url):
    scope = SiteScope("site.test", None, allow_subdomains=True)
    whole = normalise(url)
    expected = whole if whole is not None and scope.contains(whole[2], whole[3]) else None
    assert normalise_within(url, scope) == expected
