"""Bot-firewall challenges (crawler/firewall.py): one captured shape per vendor is recognised and
named, ordinary pages (an error page, a page served through the vendor's CDN, a page that talks
about the vendor) are not, and the watch blocks a job only after consecutive challenges."""
from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse, Request

from contract.vocabulary import BLOCKED_BY_FIREWALL, ErrorType
from crawler.firewall import ChallengeWatch, detect, header_reader, mark_challenge


def response(status: int, body: str = "", **headers: str) -> HtmlResponse:
    return HtmlResponse("https://site.test/page", status=status, body=body.encode(), encoding="utf-8",
                        headers={name.replace("_", "-"): value for name, value in headers.items()},
                        request=Request("https://site.test/page"))  # fmt: skip


def vendor_of(resp: HtmlResponse) -> str | None:
    return detect(resp.status, header_reader(resp), resp.body)


# Shapes of the vendors' challenge answers (headers and the top of the body, trimmed).
CHALLENGES = {
    "cloudflare managed challenge": (response(
        403, "<!DOCTYPE html><html><head><title>Just a moment...</title>"
        "<script src=\"/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1?ray=8f\"></script>",
        server="cloudflare", cf_mitigated="challenge", cf_ray="8f1e2d3c4b5a6978-AMS"), "Cloudflare"),
    "cloudflare js challenge without cf-mitigated": (response(
        503, "<html><head><title>Just a moment...</title></head><body><form id=\"challenge-form\" "
        "action=\"/page?__cf_chl_f_tk=abc\" method=\"POST\">", server="cloudflare"), "Cloudflare"),
    "cloudflare attention required": (response(
        403, "<!DOCTYPE html><title>Attention Required! | Cloudflare</title>", server="cloudflare"), "Cloudflare"),
    "akamai bot manager": (response(
        403, "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n<H1>Access Denied</H1>\n You don't have "
        "permission to access \"http&#58;&#47;&#47;site&#46;test&#47;\" on this server.<P>\nReference&#32;&#35;18&#46;",
        server="AkamaiGHost", mime_version="1.0"), "Akamai"),
    "akamai sec-cpt interstitial": (response(
        429, "<html><body><div id=\"sec-if-cpt-container\"><script src=\"/_sec/cp_challenge/sec-cpt-2-4.js\">"), "Akamai"),
    "datadome": (response(
        403, "<html><head><title>site.test</title></head><body><script>var dd={'rt':'c','cid':'AHrlqAAA',"
        "'host':'geo.captcha-delivery.com'}</script><script src=\"https://ct.captcha-delivery.com/c.js\">",
        x_datadome="protected", x_datadome_cid="AHrlqAAA", set_cookie="datadome=abc; Max-Age=31536000"), "DataDome"),
    "imperva incapsula": (response(
        200, "<html style=\"height:100%\"><head><META NAME=\"ROBOTS\" CONTENT=\"NOINDEX, NOFOLLOW\"><script "
        "src=\"/_Incapsula_Resource?SWJIYLWA=719d34d31c8e3a6e6fffd425f7e032f3\"></script></head><body><iframe "
        "id=\"main-iframe\" src=\"/_Incapsula_Resource?CWUDNSAI=23&xinfo=5-1\" frameborder=0>Request unsuccessful. "
        "Incapsula incident ID: 1237000180000-4</iframe>", x_iinfo="5-12345-0 0NNN RT(1 2) q(0 -1 -1 0)",
        set_cookie="visid_incap_123=abc"), "Imperva (Incapsula)"),
    "sucuri": (response(
        403, "<!DOCTYPE html><html><head><title>Sucuri WebSite Firewall - Access Denied</title>",
        server="Sucuri/Cloudproxy", x_sucuri_id="11005", x_sucuri_block="BNP005"), "Sucuri"),
    "sucuri js challenge": (response(
        200, "<html><title>You are being redirected...</title><script>var s={},u,c,U,r,i,l=0,a,e=eval;"
        "document.cookie='sucuri_cloudproxy_uuid_1=2;path=/';</script><noscript>sucuri_cloudproxy_js", server="Sucuri/Cloudproxy"), "Sucuri"),
    "aws waf challenge": (response(
        202, "<!DOCTYPE html><html><head><script src=\"https://1a2b.edge.sdk.awswaf.com/1a2b/challenge.js\"></script>"
        "<script>AwsWafIntegration.saveReferrer();</script>", x_amzn_waf_action="challenge"), "AWS WAF"),
    "aws waf captcha": (response(405, "<html>captcha</html>", x_amzn_waf_action="captcha"), "AWS WAF"),
    "perimeterx": (response(
        403, "<html><head><title>Access to this page has been denied</title></head><body><div id=\"px-captcha\">"
        "</div><script>window._pxAppId='PXabc123';</script>"), "PerimeterX (HUMAN)"),
    "vercel attack challenge mode": (response(429, "<html>Vercel Security Checkpoint</html>", x_vercel_mitigated="challenge",
                                              server="Vercel"), "Vercel"),  # fmt: skip
    "kasada": (response(429, "", x_kpsdk_ct="0ZhE8qYx", x_kpsdk_r="1-Bw"), "Kasada"),
}


@pytest.mark.parametrize("name", CHALLENGES)
def test_each_vendors_challenge_is_recognised_and_named(name):
    resp, vendor = CHALLENGES[name]
    assert vendor_of(resp) == vendor


ORDINARY = {
    "a 403 of the site itself": response(403, "<html><title>Forbidden</title><p>Members only</p>", server="nginx"),
    "a page served through cloudflare": response(200, "<html><title>Home</title><a href=/a>a</a>", server="cloudflare",
                                                 cf_ray="8f1e-AMS", cf_cache_status="HIT"),  # fmt: skip
    "a cloudflare-served 404": response(404, "<html><title>Not found</title>", server="cloudflare"),
    "a page about waiting": response(200, "<html><title>Just a moment...</title><p>a blog post</p>", server="cloudflare"),
    "an akamai-served page": response(200, "<html><title>Access Denied, a film review</title>", server="AkamaiGHost"),
    "a page behind incapsula": response(200, "<html><head><script src=\"/_Incapsula_Resource?SWJIYLWA=719d\"></script>"
                                             "<title>Shop</title>", x_iinfo="5-12345-0"),  # fmt: skip
    "a datadome-protected page let through": response(200, "<html><title>Shop</title>", x_datadome="protected"),
    "a 503 under maintenance": response(503, "<html><title>Down for maintenance</title>", retry_after="120"),
}


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_pages_are_not_challenges(name):
    assert vendor_of(ORDINARY[name]) is None


def test_only_the_top_of_a_body_is_read():
    late = response(403, "<p>" + "x" * 40_000 + "</p>/cdn-cgi/challenge-platform/")
    assert vendor_of(late) is None


def record(n: int, challenged: bool, kind: str = "page") -> dict:
    rec = {"url": f"https://site.test/{n}", "kind": kind, "http_status": 403 if challenged else 200,
           "error_type": None, "error": None}  # fmt: skip
    if challenged:
        rec.update(error_type=ErrorType.FIREWALL_CHALLENGE, error="Cloudflare bot challenge (HTTP 403)")
    return rec


def test_mark_challenge_sets_the_records_error():
    rec = record(1, False) | {"http_status": 403}
    mark_challenge(rec, CHALLENGES["datadome"][0])
    assert rec["error_type"] == "firewall_challenge" and rec["error"] == "DataDome bot challenge (HTTP 403)"
    sitemap = record(2, False, kind="sitemap")
    mark_challenge(sitemap, CHALLENGES["datadome"][0])
    assert sitemap["error_type"] is None


def test_the_watch_blocks_after_consecutive_challenges_only():
    watch = ChallengeWatch(3)
    # challenges among good pages (a protected form here and there) never block
    for n in range(20):
        assert watch.observe(record(n, challenged=n % 3 == 0)) is None
    assert watch.verdict_at_end() is None
    assert watch.observe(record(100, True)) is None and watch.observe(record(101, True)) is None
    assert watch.observe(record(102, True, kind="resource")) is None  # resources do not count
    verdict = watch.observe(record(103, True))
    assert verdict.startswith(f"{BLOCKED_BY_FIREWALL}: Cloudflare answered 3 consecutive")


def test_a_crawl_whose_every_page_was_challenged_is_blocked_at_its_end():
    watch = ChallengeWatch(5)
    assert watch.observe(record(0, True)) is None
    assert watch.verdict_at_end().startswith(f"{BLOCKED_BY_FIREWALL}: Cloudflare")
    watch.observe(record(1, False))
    assert watch.verdict_at_end() is None
