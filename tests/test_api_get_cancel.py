"""GET /v1/jobs/{id}, cancel (POST .../cancel and DELETE), and the JSON 404/405 for routing errors.
SPEC: "Get a job [core]", "Cancel a job [core]", "Errors [core]"."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import assert_error

ISO_UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
NODE = "http://scrapyd.invalid"
DETAIL_FIELDS = {
    "id", "domain", "domain_id", "status", "organisation_id", "created_at", "options", "source_type", "source_detail",
    "schedule_id",
    "started_at", "completed_at", "cancelled_at", "error", "progress", "stats",
}  # fmt: skip


def get_job(client, org, job_id):
    response = client.get(f"/v1/jobs/{job_id}", headers=org.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def parse_z(value):
    assert ISO_UTC_Z.match(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# --- GET /v1/jobs/{id} --------------------------------------------------------------------------


def test_get_returns_the_job_with_all_fields(client, org):
    created = client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers).get_json()

    job = get_job(client, org, created["id"])

    assert set(job) == DETAIL_FIELDS
    assert {key: job[key] for key in created} == created
    assert job["organisation_id"] == str(org.id) and job["domain"] == "example.com"


def test_new_job_has_null_timestamps_error_and_zero_progress(client, org, make_job):
    job = get_job(client, org, make_job(org))

    assert (job["started_at"], job["completed_at"], job["cancelled_at"], job["error"]) == (None, None, None, None)
    assert job["progress"] == {
        "total_tasks": 0, "completed_tasks": 0, "failed_tasks": 0, "skipped_tasks": 0, "percentage": 0.0,
    }  # fmt: skip


def test_get_shows_started_completed_and_error(client, org, make_job):
    started = datetime(2024, 5, 1, 10, 0, 0, tzinfo=timezone.utc)
    completed = started + timedelta(minutes=5)
    job_id = make_job(org, status="failed", started_at=started, completed_at=completed, error="crawler died")

    job = get_job(client, org, job_id)

    assert parse_z(job["started_at"]) == started
    assert parse_z(job["completed_at"]) == completed
    assert job["cancelled_at"] is None
    assert job["error"] == "crawler died"


def test_timestamps_are_returned_in_utc_whatever_timezone_they_were_stored_in(client, org, make_job):
    started = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    job = get_job(client, org, make_job(org, status="running", started_at=started))

    assert job["started_at"].startswith("2024-05-01T10:00:00")
    assert parse_z(job["started_at"]) == started


def test_progress_counts_and_percentage_with_one_decimal(client, org, make_job):
    job_id = make_job(org, status="running", total_tasks=3, completed_tasks=1)

    assert get_job(client, org, job_id)["progress"] == {
        "total_tasks": 3, "completed_tasks": 1, "failed_tasks": 0, "skipped_tasks": 0, "percentage": 33.3,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("total", "completed", "failed", "skipped", "percentage"),
    [(3, 2, 0, 0, 66.7), (7, 1, 1, 1, 42.9), (8, 2, 1, 1, 50.0), (4, 1, 1, 2, 100.0), (1000, 1, 0, 0, 0.1)],
)
def test_percentage_counts_completed_failed_and_skipped(client, org, make_job, total, completed, failed, skipped, percentage):
    job_id = make_job(
        org, status="running", total_tasks=total, completed_tasks=completed, failed_tasks=failed, skipped_tasks=skipped
    )

    progress = get_job(client, org, job_id)["progress"]
    assert progress["percentage"] == percentage
    assert (progress["failed_tasks"], progress["skipped_tasks"]) == (failed, skipped)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_percentage_is_100_when_the_job_is_terminal(client, org, make_job, status):
    job_id = make_job(org, status=status, total_tasks=3, completed_tasks=1)

    assert get_job(client, org, job_id)["progress"]["percentage"] == 100.0


def test_stats_are_computed_from_the_job_counters(client, org, make_job):
    job_id = make_job(
        org, status="running", timed_pages=3, response_time_ms_sum=2000,
        cache_known_pages=4, cache_hit_pages=3, total_bytes=123456, response_time_after_warming_ms_sum=1500,
    )  # fmt: skip

    stats = get_job(client, org, job_id)["stats"]

    assert {key: value for key, value in stats.items() if value is not None} == {
        "avg_response_time": 667, "cache_hit_ratio": 0.75, "total_bytes": 123456, "pages_warmed": 0,
        "cache_hit_ratio_after_warming": 0.0, "avg_response_time_after_warming": 500,
        "external_links_checked": 0, "external_broken": 0, "external_from_cache": 0,
    }  # fmt: skip  (the distribution is null until the job ends: tests/test_performance_stats.py)
    assert isinstance(stats["avg_response_time"], int)


def test_cache_hit_ratio_is_a_fraction_of_pages_with_known_cache_status(client, org, make_job):
    job_id = make_job(org, status="running", timed_pages=10, cache_known_pages=3, cache_hit_pages=1)

    assert get_job(client, org, job_id)["stats"]["cache_hit_ratio"] == pytest.approx(1 / 3, abs=1e-3)


def test_cache_hit_ratio_is_null_when_no_cache_status_is_known(client, org, make_job):
    job_id = make_job(org, status="running", timed_pages=5, response_time_ms_sum=500, cache_known_pages=0)

    stats = get_job(client, org, job_id)["stats"]

    assert stats["cache_hit_ratio"] is None
    assert stats["avg_response_time"] == 100


def test_total_bytes_is_an_integer_even_when_large(client, org, make_job):
    job_id = make_job(org, status="running", total_bytes=5 * 1024**3)

    assert get_job(client, org, job_id)["stats"]["total_bytes"] == 5 * 1024**3


@pytest.mark.parametrize("job_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid"])
def test_get_of_unknown_job_is_404(client, org, job_id):
    assert_error(client.get(f"/v1/jobs/{job_id}", headers=org.headers), 404, "job_not_found")


# --- routing errors -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_unsupported_method_on_a_job_is_405_with_allow_header(client, org, make_job, method):
    response = getattr(client, method)(f"/v1/jobs/{make_job(org)}", json={}, headers=org.headers)

    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert {"GET", "DELETE"} <= allowed
    assert "PUT" not in allowed


def test_unsupported_method_on_the_job_list_is_405(client, org):
    response = client.put("/v1/jobs", json={}, headers=org.headers)

    assert_error(response, 405, "method_not_allowed")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["Allow"].split(",")}


@pytest.mark.parametrize("path", ["/v1/nothing-here", "/nothing-here", "/v1/jobs/x/y/z"])
def test_unknown_path_is_404_json(client, org, path):
    assert_error(client.get(path, headers=org.headers), 404, "not_found")


# --- cancel -------------------------------------------------------------------------------------


def cancel(client, org, job_id, method="post"):
    if method == "post":
        return client.post(f"/v1/jobs/{job_id}/cancel", headers=org.headers)
    return client.delete(f"/v1/jobs/{job_id}", headers=org.headers)


@pytest.mark.parametrize("method", ["post", "delete"])
def test_cancel_of_a_running_job_returns_id_status_and_cancelled_at(client, org, make_job, method):
    job_id = make_job(org, status="running", scrapyd_node=NODE)
    before = datetime.now(timezone.utc)

    response = cancel(client, org, job_id, method)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "status", "cancelled_at"}
    assert (body["id"], body["status"]) == (job_id, "cancelled")
    cancelled_at = parse_z(body["cancelled_at"])
    assert before - timedelta(seconds=5) <= cancelled_at <= datetime.now(timezone.utc) + timedelta(seconds=5)


@pytest.mark.parametrize("method", ["post", "delete"])
def test_cancelled_job_reads_back_as_cancelled(client, org, make_job, method):
    job_id = make_job(org, status="running", scrapyd_node=NODE)

    body = cancel(client, org, job_id, method).get_json()

    job = get_job(client, org, job_id)
    assert job["status"] == "cancelled"
    assert job["cancelled_at"] == body["cancelled_at"]


@pytest.mark.parametrize(("first", "second"), [("post", "post"), ("delete", "delete"), ("post", "delete"), ("delete", "post")])
def test_cancelling_twice_returns_the_same_body(client, org, make_job, first, second):
    job_id = make_job(org, status="running", scrapyd_node=NODE)

    first_response = cancel(client, org, job_id, first)
    second_response = cancel(client, org, job_id, second)

    assert second_response.status_code == 200
    assert second_response.get_json() == first_response.get_json()


def test_cancel_of_running_job_stops_the_spider_once(client, org, make_job, scheduler):
    job_id = make_job(org, status="running", scrapyd_node=NODE)

    cancel(client, org, job_id, "post")
    cancel(client, org, job_id, "delete")

    assert scheduler.cancelled == [job_id]


def test_cancel_of_a_job_created_through_the_api_reaches_the_scheduler(client, org, scheduler):
    job_id = client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers).get_json()["id"]

    response = cancel(client, org, job_id)

    assert response.status_code == 200
    assert scheduler.cancelled == [job_id]


def test_cancel_of_a_created_job_works(client, org, make_job):
    job_id = make_job(org, status="created")

    response = cancel(client, org, job_id)

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert get_job(client, org, job_id)["status"] == "cancelled"


@pytest.mark.parametrize("status", ["completed", "failed"])
@pytest.mark.parametrize("method", ["post", "delete"])
def test_cancel_of_a_finished_job_is_409_and_changes_nothing(client, org, make_job, scheduler, status, method):
    job_id = make_job(org, status=status, scrapyd_node=NODE)

    response = cancel(client, org, job_id, method)

    assert_error(response, 409, "job_finished")
    job = get_job(client, org, job_id)
    assert (job["status"], job["cancelled_at"]) == (status, None)
    assert scheduler.cancelled == []


def test_cancel_still_succeeds_when_the_scheduler_is_unavailable(client, org, make_job, scheduler):
    job_id = make_job(org, status="running", scrapyd_node=NODE)
    scheduler.fail_with = "scrapyd is down"

    response = cancel(client, org, job_id)

    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"
    assert get_job(client, org, job_id)["status"] == "cancelled"


def test_cancel_keeps_the_progress_recorded_before_it(client, org, make_job):
    job_id = make_job(
        org, status="running", scrapyd_node=NODE, total_tasks=10, completed_tasks=4, failed_tasks=1, total_bytes=999
    )

    cancel(client, org, job_id)

    job = get_job(client, org, job_id)
    assert (job["progress"]["total_tasks"], job["progress"]["completed_tasks"], job["progress"]["failed_tasks"]) == (10, 4, 1)
    assert job["stats"]["total_bytes"] == 999


@pytest.mark.parametrize("method", ["post", "delete"])
def test_cancel_of_unknown_job_is_404(client, org, method):
    assert_error(cancel(client, org, "00000000-0000-4000-8000-000000000000", method), 404, "job_not_found")


def test_stats_of_a_job_with_no_fetched_page_are_zero_and_null(client, org, make_job):
    job_id = make_job(org)
    stats = client.get(f"/v1/jobs/{job_id}", headers=org.headers).get_json()["stats"]
    assert {key: value for key, value in stats.items() if value is not None} == {
        "avg_response_time": 0, "total_bytes": 0, "pages_warmed": 0, "avg_response_time_after_warming": 0,
        "external_links_checked": 0, "external_broken": 0, "external_from_cache": 0}  # fmt: skip
    assert stats["cache_hit_ratio"] is None and stats["cache_hit_ratio_after_warming"] is None
