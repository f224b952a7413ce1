"""Hostile and malformed input: every one is a 4xx with the JSON error shape, never a 500, and
nothing that looks like code is ever executed, decoded or rewritten. SPEC: "Errors [core]",
"Create a job [core]", "List jobs [core]". Issue "Reliability and security", item 7.

Already covered elsewhere, not repeated here:
- body over the limit -> 413, body exactly at the limit -> 201: tests/test_api_create.py
  (test_body_larger_than_the_limit_is_rejected, test_body_just_under_the_limit_is_not_rejected_for_size)
- text/plain, form-encoded and missing Content-Type -> 415: test_non_json_content_type_is_rejected
- malformed JSON -> 400 invalid_json: test_malformed_json_is_rejected; invalid UTF-8 -> 400:
  test_invalid_utf8_body_is_rejected (the code is pinned down below)
- a single 300-character label -> 400 invalid_domain: test_domain_with_300_char_label_is_rejected
- bücher.de -> xn--bcher-kva.de: test_idn_domain_is_idna_encoded
"""
from __future__ import annotations

import hashlib
import io
import json

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from db.models import Job, Task
from tests.helpers import assert_error, make_test_app

TABLES = {"organisations", "api_tokens", "domains", "jobs", "tasks", "broken_link_referrers"}
INJECTION_STRINGS = [
    "'; DROP TABLE jobs; --",
    "<script>alert(1)</script>",
    "%00",
    "{{7*7}}",
    "\u202egnp.exe",  # RIGHT-TO-LEFT OVERRIDE: shows as "exe.png"
    "${jndi:ldap://x/a}",
    "' OR '1'='1",
]
QUERY_INJECTIONS = [
    "'; DROP TABLE jobs; --",
    "running' OR '1'='1",
    "<script>alert(1)</script>",
    "{{7*7}}",
    "\x00",
    "running\x00",
    "\u202erunning",
]


def create(client, org, body):
    return client.post("/v1/jobs", json=body, headers=org.headers)


def job_total(client, org) -> int:
    return client.get("/v1/jobs", headers=org.headers).get_json()["pagination"]["total"]


@pytest.fixture
def small_app(database_url, scheduler):
    """The API with a 1 KiB body limit (API_MAX_BODY_BYTES)."""
    app = make_test_app(database_url, scheduler, MAX_CONTENT_LENGTH=1024)
    yield app
    app.extensions["db_engine"].dispose()


# --- body size, media type, encoding ------------------------------------------------------------


def test_body_over_a_configured_limit_is_413_and_creates_no_job(small_app, org, scheduler):
    client = small_app.test_client()
    body = json.dumps({"domain": "example.com", "source_detail": "x" * 2000})

    response = client.post("/v1/jobs", data=body, content_type="application/json", headers=org.headers)

    assert_error(response, 413, "payload_too_large")
    assert scheduler.scheduled == []
    assert job_total(client, org) == 0


def padded_to(size: int, tail: bytes = b"") -> bytes:
    """`{"domain": "example.com"}` padded with JSON whitespace to `size` bytes, then `tail`."""
    text = json.dumps({"domain": "example.com"}).encode()
    return text[:-1] + b" " * (size - len(text)) + b"}" + tail


def post_chunked(client, org, body: bytes):
    # As a server hands over a chunked body: no Content-Length, the stream ends where the body does.
    # (The test client would compute a Content-Length for a plain input_stream.)
    return client.post(
        "/v1/jobs", input_stream=io.BytesIO(body), content_type="application/json", headers=org.headers,
        environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
    )  # fmt: skip


@pytest.mark.parametrize(
    "body",
    [
        padded_to(1024, b', "source_type": "the rest"}'),  # its first 1024 bytes alone are valid JSON
        padded_to(1025),
        json.dumps({"domain": "example.com", "source_detail": "x" * 2000}).encode(),
    ],
    ids=["valid-json-cut-at-the-limit", "limit-plus-one", "long-field"],
)
def test_streamed_body_without_content_length_over_the_limit_is_413(small_app, org, scheduler, body):
    # No Content-Length to refuse up front: the limit must hold while the body is read, and a body
    # cut at the limit must never be parsed (see tests/integration/test_gunicorn.py for the real server).
    client = small_app.test_client()

    response = post_chunked(client, org, body)

    assert_error(response, 413, "payload_too_large")
    assert scheduler.scheduled == []
    assert job_total(client, org) == 0


def test_streamed_body_of_exactly_the_limit_is_accepted(small_app, org):
    response = post_chunked(small_app.test_client(), org, padded_to(1024))

    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("content_type", "data"),
    [
        ("application/xml", "<job><domain>example.com</domain></job>"),
        ("multipart/form-data; boundary=x", '--x\r\nContent-Disposition: form-data; name="domain"\r\n\r\nexample.com\r\n--x--\r\n'),
        ("text/html", "<p>example.com</p>"),
    ],
)
def test_other_media_types_are_415(client, org, content_type, data):
    response = client.post("/v1/jobs", data=data, content_type=content_type, headers=org.headers)

    assert_error(response, 415, "unsupported_media_type")


def test_json_with_a_charset_parameter_is_accepted(client, org):
    response = client.post(
        "/v1/jobs", data='{"domain": "example.com"}', content_type="application/json; charset=utf-8", headers=org.headers
    )

    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize(
    "data",
    [
        b'{"domain": "ex\xff\xfeample.com"}',  # invalid UTF-8 bytes
        '{"domain": "example.com"}'.encode("utf-16"),  # valid JSON text, wrong encoding
        b'{"domain": "\xc3"}',  # truncated multi-byte sequence
        b'{"domain": "\xed\xa0\x80.com"}',  # UTF-8-encoded surrogate (not valid UTF-8)
    ],
    ids=["invalid-bytes", "utf-16", "truncated", "encoded-surrogate"],
)
def test_body_that_is_not_utf8_is_400_invalid_json(client, org, data):
    response = client.post("/v1/jobs", data=data, content_type="application/json", headers=org.headers)

    assert_error(response, 400, "invalid_json")


def test_body_with_a_utf8_bom_is_400_invalid_json(client, org):
    data = b"\xef\xbb\xbf" + b'{"domain": "example.com"}'

    assert_error(client.post("/v1/jobs", data=data, content_type="application/json", headers=org.headers), 400, "invalid_json")


@pytest.mark.parametrize("field", ["domain", "source_type", "source_detail"])
def test_lone_surrogate_escape_in_a_string_is_400(client, org, field):
    body = {"domain": "example.com", field: "PLACEHOLDER"}
    data = json.dumps(body).replace("PLACEHOLDER", "\\ud800")

    response = client.post("/v1/jobs", data=data, content_type="application/json", headers=org.headers)

    assert_error(response, 400, "invalid_field", field)


@pytest.mark.parametrize(("opener", "closer", "depth"), [("[", "]", 5_000), ("[", "]", 30_000), ('{"a":', "}", 10_000)])
def test_deeply_nested_json_under_the_size_limit_is_400_not_500(client, org, app, opener, closer, depth):
    data = opener * depth + "1" + closer * depth
    assert len(data) <= app.config["MAX_CONTENT_LENGTH"]  # the size limit alone does not stop it

    response = client.post("/v1/jobs", data=data, content_type="application/json", headers=org.headers)

    assert_error(response, 400, "invalid_json")


# --- domain -------------------------------------------------------------------------------------


def test_300_character_domain_of_valid_labels_is_400_invalid_domain(client, org):
    domain = ".".join(["a" * 59] * 5) + "x"  # every label valid (59 or 60 characters)
    assert len(domain) == 300

    error = assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")

    assert "long" in error["message"].lower()


def test_domain_of_exactly_253_characters_is_accepted(client, org):
    domain = ".".join(["a" * 63] * 3 + ["b" * 61])
    assert len(domain) == 253

    response = create(client, org, {"domain": domain})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["domain"] == domain


def test_domain_of_254_characters_is_400_invalid_domain(client, org):
    domain = ".".join(["a" * 63] * 3 + ["b" * 62])
    assert len(domain) == 254

    assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")


@pytest.mark.parametrize(
    ("raw", "idna", "scheme"),
    [
        ("bücher.de", "xn--bcher-kva.de", None),
        ("BÜCHER.de", "xn--bcher-kva.de", None),
        ("https://München.example/", "xn--mnchen-3ya.example", "https"),
        ("http://bücher.de/pfad?x=1", "xn--bcher-kva.de", "http"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de", None),
    ],
)
def test_idn_domains_are_stored_in_idna_form(client, org, scheduler, raw, idna, scheme):
    response = create(client, org, {"domain": raw})

    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["domain"] == idna
    args = scheduler.scheduled[-1][1]
    assert args["domain"] == idna
    assert args.get("scheme") == scheme


def test_unicode_and_punycode_spellings_are_one_domain(client, org):
    unicode_id = create(client, org, {"domain": "bücher.de"}).get_json()["domain_id"]

    punycode = create(client, org, {"domain": "xn--bcher-kva.de", "allow_concurrent": True})

    assert punycode.get_json()["domain_id"] == unicode_id


@pytest.mark.parametrize("domain", ["xn--zz.de", "xn--.de", "-bücher.de"])
def test_invalid_idna_is_400_invalid_domain(client, org, domain):
    assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")


@pytest.mark.parametrize("domain", ["exa\x00mple.com", "\x00", "example.com\x00", "https://example.com\x00/", "example.com:80\x00"])
def test_nul_byte_inside_the_domain_string_is_400(client, org, domain):
    assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")


@pytest.mark.parametrize(
    "domain",
    ["[", "a]b", "¡]u", "[::1", "https://[x]/", "ex\ufe6bample.com", "ex\uff0fample.com", "http://ex\u2100ample.com/"],
)
def test_domains_that_break_url_parsing_are_400_invalid_domain(client, org, domain):
    # urllib.parse.urlsplit raises ValueError on these (unbalanced brackets, characters that NFKC
    # normalisation turns into '/' or '@'): that was a 500.
    assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")


def test_domain_with_injection_text_is_400_invalid_domain(client, org):
    for domain in ("'; DROP TABLE jobs; --", "<script>alert(1)</script>", "{{7*7}}", "example.com'--"):
        assert_error(create(client, org, {"domain": domain}), 400, "invalid_domain", "domain")


# --- injection-looking text is stored and returned literally ------------------------------------


@pytest.mark.parametrize("text", INJECTION_STRINGS)
def test_injection_looking_source_fields_are_stored_and_returned_literally(client, org, engine, text):
    response = create(client, org, {"domain": "example.com", "source_type": text, "source_detail": text})

    assert response.status_code == 201, response.get_data(as_text=True)
    created = response.get_json()
    assert (created["source_type"], created["source_detail"]) == (text, text)
    shown = client.get(f"/v1/jobs/{created['id']}", headers=org.headers).get_json()
    assert (shown["source_type"], shown["source_detail"]) == (text, text)
    listed = client.get("/v1/jobs", headers=org.headers).get_json()["jobs"]
    assert [(job["source_type"], job["source_detail"]) for job in listed] == [(text, text)]
    with Session(engine) as session:
        row = session.get(Job, created["id"])
        assert (row.source_type, row.source_detail) == (text, text)
    assert TABLES <= set(inspect(engine).get_table_names())


def test_injection_text_does_not_leak_across_organisations(client, org, make_org):
    other = make_org("Other")
    create(client, other, {"domain": "example.com", "source_detail": "' OR '1'='1"})

    assert job_total(client, org) == 0


@pytest.mark.parametrize("field", ["source_type", "source_detail"])
@pytest.mark.parametrize("text", ["\x00", "a\x00b", "%00\x00"])
def test_nul_byte_in_source_fields_is_400_invalid_field(client, org, engine, field, text):
    # PostgreSQL text cannot hold U+0000: a 400 naming the field, not a 500 from the database.
    error = assert_error(create(client, org, {"domain": "example.com", field: text}), 400, "invalid_field", field)

    assert "NUL" in error["message"]
    assert job_total(client, org) == 0


# --- query strings ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["status", "include", "range", "limit", "offset", "page", "tzOffset"])
@pytest.mark.parametrize("value", QUERY_INJECTIONS)
def test_injection_looking_list_query_values_are_400(client, org, make_job, engine, name, value):
    make_job(org)

    response = client.get("/v1/jobs", query_string={name: value}, headers=org.headers)

    assert_error(response, 400, "invalid_field", name)
    assert TABLES <= set(inspect(engine).get_table_names())
    assert job_total(client, org) == 1


@pytest.mark.parametrize(
    "query",
    ["status=%00", "include=%00", "range=%00", "limit=%00", "status=%ff%fe", "limit=1;DROP%20TABLE%20jobs",
     "limit=1%20OR%201=1", "limit=0x10", "limit=1e1", "limit=%EF%BC%95", "status=running,%27--"],
)  # fmt: skip
def test_raw_hostile_list_query_strings_are_400(client, org, query):
    assert_error(client.get(f"/v1/jobs?{query}", headers=org.headers), 400, "invalid_field")


@pytest.mark.parametrize("name", ["offset", "page"])
@pytest.mark.parametrize("value", ["9223372036854775807", "9223372036854775808", "1" + "0" * 40])
@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/{job}/tasks"])
def test_offsets_past_64_bits_are_400_not_500(client, org, make_job, name, value, path):
    # A 64-bit overflow in SQL OFFSET was a 500 on both databases.
    job_id = make_job(org)

    response = client.get(path.format(job=job_id), query_string={name: value}, headers=org.headers)

    assert_error(response, 400, "invalid_field", name)


@pytest.mark.parametrize("path", ["/v1/jobs", "/v1/jobs/{job}/tasks"])
def test_largest_offset_and_page_are_accepted(client, org, make_job, path):
    job_id = make_job(org)
    url = path.format(job=job_id)

    for query in ({"offset": 10**12}, {"page": 10**9, "limit": 100}):
        response = client.get(url, query_string=query, headers=org.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["pagination"]["has_next"] is False


# Every endpoint, with a query parameter it does not take: (method, path, the parameters it does take).
ENDPOINTS = [
    ("post", "/v1/jobs", ()),
    ("get", "/v1/jobs", ("limit", "offset", "page", "status", "range", "tzOffset", "include")),
    ("get", "/v1/jobs/{job}", ()),
    ("delete", "/v1/jobs/{job}", ()),
    ("post", "/v1/jobs/{job}/cancel", ()),
    ("get", "/v1/jobs/{job}/tasks", ("limit", "offset", "page", "status", "cache_status", "issue", "kind", "status_class", "q",
                                     "path_prefix", "path", "sort")),
    ("get", "/v1/jobs/{job}/issues", ()),
    ("get", "/v1/jobs/{job}/export", ("format",)),
    ("get", "/v1/jobs/{job}/log", ()),
]


@pytest.mark.parametrize(("method", "path", "known"), ENDPOINTS)
@pytest.mark.parametrize("name", ["limits", "foo", "domain", "fields[]"])
def test_a_query_parameter_the_endpoint_does_not_take_is_400_naming_it(client, org, make_job, scheduler, method, path, known, name):
    # SPEC "List jobs [core]": a parameter an endpoint does not know is 400, never ignored, on every endpoint.
    job_id = make_job(org, status="running")
    kwargs = {"json": {"domain": "example.com"}} if path == "/v1/jobs" and method == "post" else {}

    response = getattr(client, method)(path.format(job=job_id), query_string={name: "1"}, headers=org.headers, **kwargs)

    error = assert_error(response, 400, "unknown_parameter", f"'{name}'")
    assert all(parameter in error["message"] for parameter in known)
    assert job_total(client, org) == 1 and scheduler.scheduled == [] and scheduler.cancelled == []
    assert client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["status"] == "running"


@pytest.mark.parametrize(("method", "path"), [("get", "/v1/jobs/{job}"), ("get", "/v1/jobs/{job}/issues"), ("get", "/v1/jobs/{job}/export")])
def test_a_parameter_of_another_endpoint_is_unknown_here(client, org, make_job, method, path):
    job_id = make_job(org)

    response = getattr(client, method)(path.format(job=job_id), query_string={"limit": "5"}, headers=org.headers)

    assert_error(response, 400, "unknown_parameter", "'limit'")


def test_without_a_query_string_every_endpoint_answers(client, org, make_job):
    job_id = make_job(org, status="completed")
    for method, path, _ in ENDPOINTS:
        if method in ("post", "delete"):
            continue
        response = getattr(client, method)(path.format(job=job_id), headers=org.headers)
        assert response.status_code in (200, 404), (path, response.get_data(as_text=True))
        if response.status_code == 404:
            assert path.endswith("/log")  # the fake scheduler keeps no logs


@pytest.fixture
def job_with_tasks(org, make_job, engine):
    job_id = make_job(org, status="completed")
    with Session(engine) as session, session.begin():
        for url in ("https://example.com/a", "https://example.com/50%off", "https://example.com/x_y"):
            session.add(Task(job_id=job_id, url=url, url_hash=hashlib.sha1(url.encode()).hexdigest()[:16],
                             found_via="link", status="completed", http_status=200))  # fmt: skip
    return job_id


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("%", ["https://example.com/50%off"]),
        ("_", ["https://example.com/x_y"]),
        ("' OR '1'='1", []),
        ("%' OR 1=1 --", []),
        ("\\", []),
        ("/a", ["https://example.com/a"]),
    ],
)
def test_task_path_filter_matches_its_text_literally(client, org, job_with_tasks, path, expected):
    response = client.get(f"/v1/jobs/{job_with_tasks}/tasks", query_string={"path": path}, headers=org.headers)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert [task["url"] for task in response.get_json()["tasks"]] == expected


@pytest.mark.parametrize(
    "query",
    [{"path": "\x00"}, {"path": "a\x00"}, {"sort": "id; DROP TABLE tasks"}, {"sort": "-url--"},
     {"status": "failed' OR '1'='1"}, {"cache_status": "HIT\x00"}, {"issue": "<script>"}, {"kind": "page'--"}],
)  # fmt: skip
def test_hostile_task_query_values_are_400(client, org, job_with_tasks, engine, query):
    response = client.get(f"/v1/jobs/{job_with_tasks}/tasks", query_string=query, headers=org.headers)

    assert_error(response, 400, "invalid_field", next(iter(query)))
    with Session(engine) as session:
        assert len(session.scalars(select(Task).where(Task.job_id == job_with_tasks)).all()) == 3


def test_hostile_export_format_is_400(client, org, job_with_tasks):
    for value in ("csv'--", "../../etc/passwd", "\x00"):
        response = client.get(f"/v1/jobs/{job_with_tasks}/export", query_string={"format": value}, headers=org.headers)
        assert_error(response, 400, "invalid_field", "format")


# --- hostile job ids in the path ----------------------------------------------------------------


@pytest.mark.parametrize(
    "job_id", ["%00", "a%00b", "%27%20OR%20%271%27%3D%271", "%3Cscript%3E", "%7B%7B7*7%7D%7D", "%ff%fe", "x" * 3000]
)
@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("delete", ""), ("post", "/cancel"), ("get", "/tasks"), ("get", "/issues"), ("get", "/export")],
)
def test_hostile_job_ids_are_404_job_not_found(client, org, make_job, job_id, method, suffix):
    make_job(org, status="running")  # a job the organisation does have, that no hostile id may reach

    response = getattr(client, method)(f"/v1/jobs/{job_id}{suffix}", headers=org.headers)

    assert_error(response, 404, "job_not_found")
    assert client.get("/v1/jobs?status=running", headers=org.headers).get_json()["pagination"]["total"] == 1
