"""POST /v1/jobs: the 201 body, domain reduction, options, validation (one test per rule) and
scheduler failure. SPEC: "Create a job [core]" and "Errors [core]"."""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from contract.options import JobOptions
from tests.helpers import assert_error

SPEC_OPTION_DEFAULTS = {
    "use_sitemap": True,
    "find_links": True,
    "allow_cross_subdomain_links": True,
    "max_pages": 0,
    "concurrency": 20,
}
CREATED_FIELDS = {
    "id", "domain", "domain_id", "status", "organisation_id", "created_at", "options", "source_type", "source_detail",
    "schedule_id",  # SPEC "Where jobs come from": null when no schedule started the job
}  # fmt: skip
ISO_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def create(client, org, body):
    return client.post("/v1/jobs", json=body, headers=org.headers)


# --- the 201 response ---------------------------------------------------------------------------


def test_create_returns_201_with_exactly_the_spec_fields(client, org):
    response = create(client, org, {"domain": "example.com"})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == CREATED_FIELDS
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["domain"] == "example.com"
    assert isinstance(body["domain_id"], int) and not isinstance(body["domain_id"], bool)
    assert body["status"] == "created"
    assert body["organisation_id"] == str(org.id)  # a string, as the seed types it
    assert body["source_type"] == "api"
    assert body["source_detail"] is None


def test_create_created_at_is_iso8601_utc_with_z(client, org):
    before = datetime.now(timezone.utc)
    body = create(client, org, {"domain": "example.com"}).get_json()

    assert ISO_UTC_Z.match(body["created_at"]), body["created_at"]
    created_at = datetime.fromisoformat(body["created_at"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=5) <= created_at <= datetime.now(timezone.utc) + timedelta(seconds=5)


def test_create_options_have_all_spec_defaults(client, org):
    options = create(client, org, {"domain": "example.com"}).get_json()["options"]

    assert {name: options[name] for name in SPEC_OPTION_DEFAULTS} == SPEC_OPTION_DEFAULTS


def test_create_sets_location_header_to_the_new_job(client, org):
    response = create(client, org, {"domain": "example.com"})

    location = response.headers["Location"]
    assert location.endswith(f"/v1/jobs/{response.get_json()['id']}")
    assert client.get(location, headers=org.headers).status_code == 200


def test_create_keeps_source_type_and_source_detail(client, org):
    body = create(client, org, {"domain": "example.com", "source_type": "dashboard", "source_detail": "create_job"})

    assert body.get_json()["source_type"] == "dashboard"
    assert body.get_json()["source_detail"] == "create_job"


def test_create_gives_each_job_a_new_id(client, org):
    first = create(client, org, {"domain": "example.com"}).get_json()
    second = create(client, org, {"domain": "example.com", "allow_concurrent": True}).get_json()

    assert first["id"] != second["id"]


def test_same_domain_has_same_domain_id_across_jobs_and_organisations(client, org, make_org):
    other = make_org("Other")
    first = create(client, org, {"domain": "same-domain.example"}).get_json()
    second = create(client, org, {"domain": "same-domain.example", "allow_concurrent": True}).get_json()
    third = create(client, other, {"domain": "https://Same-Domain.example/"}).get_json()
    different = create(client, org, {"domain": "other-domain.example"}).get_json()

    assert first["domain_id"] == second["domain_id"] == third["domain_id"]
    assert different["domain_id"] != first["domain_id"]


# --- domain reduction ---------------------------------------------------------------------------


def test_pasted_url_is_reduced_to_lowercase_host_and_keeps_its_scheme(client, org, scheduler):
    response = create(client, org, {"domain": "https://Example.com/path"})

    assert response.status_code == 201
    assert response.get_json()["domain"] == "example.com"
    assert scheduler.scheduled[-1][1]["domain"] == "example.com"
    assert scheduler.scheduled[-1][1]["scheme"] == "https"


def test_pasted_http_url_keeps_http_scheme(client, org, scheduler):
    response = create(client, org, {"domain": "http://example.com/"})

    assert response.get_json()["domain"] == "example.com"
    assert scheduler.scheduled[-1][1]["scheme"] == "http"


def test_bare_host_has_no_forced_scheme(client, org, scheduler):
    create(client, org, {"domain": "example.com"})

    assert scheduler.scheduled[-1][1].get("scheme") in (None, "")


def test_host_with_port_keeps_the_port(client, org, scheduler):
    response = create(client, org, {"domain": "localhost:8081"})

    assert response.status_code == 201
    assert response.get_json()["domain"] == "localhost:8081"
    assert scheduler.scheduled[-1][1]["domain"] == "localhost:8081"


def test_idn_domain_is_idna_encoded(client, org):
    response = create(client, org, {"domain": "bücher.de"})

    assert response.status_code == 201
    assert response.get_json()["domain"] == "xn--bcher-kva.de"


def test_mixed_case_bare_domain_is_lowercased(client, org):
    assert create(client, org, {"domain": "WWW.Example.COM"}).get_json()["domain"] == "www.example.com"


@pytest.mark.parametrize(
    ("domain", "may_be_rejected"),
    [
        ("example.com", False),
        ("https://Example.com/path", False),
        ("localhost:8081", False),
        ("bücher.de", False),
        ("[::1]:8080", True),
    ],
)
def test_accepted_domain_is_reduced_to_a_domain_that_is_itself_valid(client, org, domain, may_be_rejected):
    # Whatever is stored and shown must be a host[:port] that the API (and the spider, which parses
    # the same way) accepts again unchanged; otherwise the job is created but can never start.
    # An IPv6 literal is not a "host name", so refusing it outright is also within the SPEC.
    first = create(client, org, {"domain": domain})
    if may_be_rejected and first.status_code == 400:
        assert_error(first, 400, "invalid_domain", "domain")
        return
    assert first.status_code == 201, first.get_data(as_text=True)
    reduced = first.get_json()["domain"]

    again = create(client, org, {"domain": reduced, "allow_concurrent": True})

    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.get_json()["domain"] == reduced


def test_mistyped_url_with_one_slash_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "http:/example.com"}), 400, "invalid_domain", "domain")


# --- options ------------------------------------------------------------------------------------


def test_flat_options_at_top_level_are_accepted(client, org):
    response = create(client, org, {"domain": "example.com", "max_pages": 7, "concurrency": 3, "find_links": False})

    assert response.status_code == 201
    options = response.get_json()["options"]
    assert (options["max_pages"], options["concurrency"], options["find_links"]) == (7, 3, False)
    assert options["use_sitemap"] is True


def test_nested_option_wins_over_flat(client, org):
    response = create(client, org, {"domain": "example.com", "max_pages": 7, "options": {"max_pages": 9}})

    assert response.status_code == 201
    assert response.get_json()["options"]["max_pages"] == 9


def test_flat_and_nested_options_are_merged(client, org):
    response = create(client, org, {"domain": "example.com", "concurrency": 5, "options": {"max_pages": 9}})

    options = response.get_json()["options"]
    assert (options["concurrency"], options["max_pages"]) == (5, 9)


def test_concurrency_reaches_the_scheduler_as_concurrent_requests(client, org, scheduler):
    create(client, org, {"domain": "example.com", "options": {"concurrency": 7}})

    _, _, settings = scheduler.scheduled[-1]
    assert settings["CONCURRENT_REQUESTS"] == 7


def test_options_reach_the_scheduler_as_spider_arguments(client, org, scheduler):
    options = {"max_pages": 42, "use_sitemap": False, "find_links": False, "allow_cross_subdomain_links": False}
    job_id = create(client, org, {"domain": "example.com", "options": options}).get_json()["id"]

    scheduled_id, args, _ = scheduler.scheduled[-1]
    assert scheduled_id == job_id
    assert args["domain"] == "example.com"
    sent = json.loads(args["options"])  # one JSON spider argument, validated again by the spider
    assert {name: sent[name] for name in options} == options


def test_default_options_reach_the_scheduler(client, org, scheduler):
    create(client, org, {"domain": "example.com"})

    _, args, settings = scheduler.scheduled[-1]
    assert json.loads(args["options"]) == JobOptions().model_dump()
    assert settings["CONCURRENT_REQUESTS"] == 20


@pytest.mark.parametrize("concurrency", [1, 100])
def test_concurrency_at_its_bounds_is_accepted(client, org, concurrency):
    response = create(client, org, {"domain": "example.com", "options": {"concurrency": concurrency}})

    assert response.status_code == 201
    assert response.get_json()["options"]["concurrency"] == concurrency


def test_max_pages_zero_is_accepted(client, org):
    response = create(client, org, {"domain": "example.com", "options": {"max_pages": 0}})

    assert response.status_code == 201


# --- validation: one test per rule --------------------------------------------------------------


def test_missing_domain_is_rejected(client, org):
    assert_error(create(client, org, {}), 400, "missing_field", "domain")


@pytest.mark.parametrize("domain", [123, None, ["example.com"], {"host": "example.com"}, True])
def test_domain_that_is_not_a_string_is_rejected(client, org, domain):
    assert_error(create(client, org, {"domain": domain}), 400, "invalid_field", "domain")


def test_empty_domain_is_rejected(client, org):
    assert_error(create(client, org, {"domain": ""}), 400, "invalid_domain", "domain")


def test_blank_domain_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "   "}), 400, "invalid_domain", "domain")


def test_domain_with_spaces_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "exa mple.com"}), 400, "invalid_domain", "domain")


def test_domain_with_unsupported_scheme_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "ftp://x.com"}), 400, "invalid_domain", "domain")


def test_domain_with_empty_label_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "a..b"}), 400, "invalid_domain", "domain")


def test_domain_with_300_char_label_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "a" * 300 + ".com"}), 400, "invalid_domain", "domain")


def test_domain_with_invalid_port_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "example.com:99999"}), 400, "invalid_domain", "domain")


def test_negative_max_pages_is_rejected(client, org):
    assert_error(create(client, org, {"domain": "example.com", "options": {"max_pages": -1}}), 400, "invalid_field", "max_pages")


@pytest.mark.parametrize("max_pages", ["5", 1.5, True, None])
def test_max_pages_that_is_not_an_integer_is_rejected(client, org, max_pages):
    response = create(client, org, {"domain": "example.com", "options": {"max_pages": max_pages}})

    assert_error(response, 400, "invalid_field", "max_pages")


def test_concurrency_zero_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "options": {"concurrency": 0}})

    assert_error(response, 400, "invalid_field", "concurrency")


def test_concurrency_above_100_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "options": {"concurrency": 101}})

    assert_error(response, 400, "invalid_field", "concurrency")


@pytest.mark.parametrize("field", ["use_sitemap", "find_links", "allow_cross_subdomain_links"])
@pytest.mark.parametrize("value", ["true", 1, 0, None])
def test_boolean_option_that_is_not_a_bool_is_rejected(client, org, field, value):
    response = create(client, org, {"domain": "example.com", "options": {field: value}})

    assert_error(response, 400, "invalid_field", field)


def test_source_type_of_32_chars_is_accepted(client, org):
    assert create(client, org, {"domain": "example.com", "source_type": "s" * 32}).status_code == 201


def test_source_type_longer_than_32_chars_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "source_type": "s" * 33})

    assert_error(response, 400, "invalid_field", "source_type")


def test_source_detail_of_255_chars_is_accepted(client, org):
    assert create(client, org, {"domain": "example.com", "source_detail": "d" * 255}).status_code == 201


def test_source_detail_longer_than_255_chars_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "source_detail": "d" * 256})

    assert_error(response, 400, "invalid_field", "source_detail")


def test_unknown_top_level_field_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "colour": "blue"})

    assert_error(response, 400, "unknown_field", "colour")


def test_unknown_field_inside_options_is_rejected(client, org):
    response = create(client, org, {"domain": "example.com", "options": {"colour": "blue"}})

    assert_error(response, 400, "unknown_field", "colour")


@pytest.mark.parametrize("options", [[], "fast", 5, None])
def test_options_that_is_not_an_object_is_rejected(client, org, options):
    response = create(client, org, {"domain": "example.com", "options": options})

    assert_error(response, 400, "invalid_field", "options")


@pytest.mark.parametrize("body", [["example.com"], "example.com", 42, None])
def test_body_that_is_not_an_object_is_rejected(client, org, body):
    response = client.post("/v1/jobs", data=json.dumps(body), content_type="application/json", headers=org.headers)

    assert_error(response, 400, "invalid_body")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_rejected(client, org, content_type):
    response = client.post(
        "/v1/jobs", data='{"domain": "example.com"}', content_type=content_type, headers=org.headers
    )

    assert_error(response, 415, "unsupported_media_type")


def test_malformed_json_is_rejected(client, org):
    response = client.post("/v1/jobs", data='{"domain": ', content_type="application/json", headers=org.headers)

    assert_error(response, 400, "invalid_json")


def test_invalid_utf8_body_is_rejected(client, org):
    response = client.post(
        "/v1/jobs", data=b'{"domain": "ex\xff\xfeample.com"}', content_type="application/json", headers=org.headers
    )

    assert_error(response, 400, code=None)


def test_body_larger_than_the_limit_is_rejected(client, org, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"domain": "example.com", "source_detail": "x" * (limit + 1)})

    response = client.post("/v1/jobs", data=body, content_type="application/json", headers=org.headers)

    assert_error(response, 413, "payload_too_large")


def test_body_just_under_the_limit_is_not_rejected_for_size(client, org, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = json.dumps({"domain": "example.com", "source_detail": ""})
    body = body[:-1] + " " * (limit - len(body)) + "}"
    assert len(body) == limit

    response = client.post("/v1/jobs", data=body, content_type="application/json", headers=org.headers)

    assert response.status_code == 201


def test_rejected_request_creates_no_job(client, org, scheduler):
    create(client, org, {"domain": "example.com", "options": {"concurrency": 0}})

    assert scheduler.scheduled == []
    assert client.get("/v1/jobs", headers=org.headers).get_json()["pagination"]["total"] == 0


# --- scheduler failure --------------------------------------------------------------------------


def test_scheduler_unavailable_is_503(client, org, scheduler):
    scheduler.fail_with = "boom"

    assert_error(create(client, org, {"domain": "example.com"}), 503, "scheduler_unavailable")


def test_job_that_could_not_be_scheduled_is_failed_with_reason(client, org, scheduler):
    scheduler.fail_with = "boom"
    create(client, org, {"domain": "example.com"})

    jobs = client.get("/v1/jobs?status=failed", headers=org.headers).get_json()["jobs"]
    assert len(jobs) == 1
    job = client.get(f"/v1/jobs/{jobs[0]['id']}", headers=org.headers).get_json()
    assert job["status"] == "failed"
    assert "boom" in job["error"]
    assert job["completed_at"] is not None and ISO_UTC_Z.match(job["completed_at"])
    assert job["progress"]["percentage"] == 100.0


# --- one active job per domain and organisation -------------------------------------------------


@pytest.mark.parametrize("status", ["created", "running"])
def test_a_second_job_while_one_is_active_on_the_domain_is_409_naming_it(client, org, make_job, scheduler, status):
    active = make_job(org, domain="busy.example", status=status)

    error = assert_error(create(client, org, {"domain": "busy.example"}), 409, "job_already_running")

    assert active in error["message"] and "busy.example" in error["message"] and "allow_concurrent" in error["message"]
    assert scheduler.scheduled == []
    assert client.get("/v1/jobs", headers=org.headers).get_json()["pagination"]["total"] == 1


def test_the_active_job_is_found_under_any_spelling_of_its_domain(client, org):
    first = create(client, org, {"domain": "https://Spelled.Example/path"}).get_json()

    error = assert_error(create(client, org, {"domain": "spelled.example"}), 409, "job_already_running")

    assert first["id"] in error["message"]


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_a_finished_job_on_the_domain_does_not_block_a_new_one(client, org, make_job, status):
    make_job(org, domain="done.example", status=status)

    assert create(client, org, {"domain": "done.example"}).status_code == 201


def test_a_cancelled_job_lets_the_next_one_start(client, org):
    first = create(client, org, {"domain": "again.example"}).get_json()
    client.post(f"/v1/jobs/{first['id']}/cancel", headers=org.headers)

    assert create(client, org, {"domain": "again.example"}).status_code == 201


def test_allow_concurrent_starts_a_second_job_on_the_domain(client, org, scheduler):
    first = create(client, org, {"domain": "twice.example"}).get_json()

    second = create(client, org, {"domain": "twice.example", "allow_concurrent": True})

    assert second.status_code == 201
    assert second.get_json()["domain_id"] == first["domain_id"] and second.get_json()["id"] != first["id"]
    assert "allow_concurrent" not in second.get_json()
    assert [job_id for job_id, _, _ in scheduler.scheduled] == [first["id"], second.get_json()["id"]]


def test_allow_concurrent_false_is_the_default(client, org):
    create(client, org, {"domain": "default.example"})

    assert_error(create(client, org, {"domain": "default.example", "allow_concurrent": False}), 409, "job_already_running")


@pytest.mark.parametrize("value", ["true", 1, None, {}])
def test_allow_concurrent_that_is_not_a_boolean_is_rejected(client, org, value):
    response = create(client, org, {"domain": "example.com", "allow_concurrent": value})

    assert_error(response, 400, "invalid_field", "allow_concurrent")


def test_another_organisations_active_job_on_the_domain_does_not_count(client, org, make_org, make_job):
    make_job(make_org("Other"), domain="shared.example", status="running")

    assert create(client, org, {"domain": "shared.example"}).status_code == 201


def test_an_active_job_on_another_domain_does_not_count(client, org, make_job):
    make_job(org, domain="one.example", status="running")

    assert create(client, org, {"domain": "two.example"}).status_code == 201


def test_a_job_that_could_not_be_scheduled_does_not_block_a_retry(client, org, scheduler):
    scheduler.fail_with = "boom"
    create(client, org, {"domain": "retry.example"})
    scheduler.fail_with = None

    assert create(client, org, {"domain": "retry.example"}).status_code == 201
