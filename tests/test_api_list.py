"""GET /v1/jobs: order, pagination, filters, includes and local-day ranges. SPEC: "List jobs [core]"."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import assert_error


def list_jobs(client, org, query=""):
    response = client.get(f"/v1/jobs{'?' + query if query else ''}", headers=org.headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def ids(body):
    return [job["id"] for job in body["jobs"]]


def now_utc():
    return datetime.now(timezone.utc)


@pytest.fixture
def twelve_jobs(org, make_job):
    """Twelve jobs one second apart, returned newest first."""
    base = now_utc() - timedelta(hours=1)
    created = [make_job(org, created_at=base + timedelta(seconds=i)) for i in range(12)]
    return created[::-1]


def local_midnight_utc(tz_offset: int, days_ago: int = 0) -> datetime:
    """UTC instant of local midnight `days_ago` days before today, local = UTC - tz_offset minutes."""
    local_now = now_utc() - timedelta(minutes=tz_offset)
    local_midnight = local_now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)
    return local_midnight + timedelta(minutes=tz_offset)


# --- order and pagination -----------------------------------------------------------------------


def test_jobs_are_listed_newest_first(client, org, make_job):
    now = now_utc()
    middle = make_job(org, created_at=now - timedelta(minutes=2))
    newest = make_job(org, created_at=now - timedelta(minutes=1))
    oldest = make_job(org, created_at=now - timedelta(minutes=3))

    assert ids(list_jobs(client, org)) == [newest, middle, oldest]


def test_empty_list_has_zero_total(client, org):
    body = list_jobs(client, org)

    assert body == {"jobs": [], "pagination": {"limit": 10, "offset": 0, "total": 0, "has_next": False}}


def test_limit_defaults_to_10(client, org, twelve_jobs):
    body = list_jobs(client, org)

    assert ids(body) == twelve_jobs[:10]
    assert body["pagination"]["limit"] == 10


def test_pagination_block_has_exactly_limit_offset_total_has_next(client, org, twelve_jobs):
    assert list_jobs(client, org, "limit=5")["pagination"] == {"limit": 5, "offset": 0, "total": 12, "has_next": True}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "ten", "1.5"])
def test_limit_outside_1_to_100_or_not_an_integer_is_rejected(client, org, limit):
    assert_error(client.get(f"/v1/jobs?limit={limit}", headers=org.headers), 400, "invalid_field", "limit")


@pytest.mark.parametrize("limit", [1, 100])
def test_limit_at_its_bounds_is_accepted(client, org, twelve_jobs, limit):
    body = list_jobs(client, org, f"limit={limit}")

    assert ids(body) == twelve_jobs[:limit]
    assert body["pagination"]["limit"] == limit


def test_offset_skips_the_newest_jobs(client, org, twelve_jobs):
    body = list_jobs(client, org, "limit=3&offset=4")

    assert ids(body) == twelve_jobs[4:7]
    assert body["pagination"]["offset"] == 4


def test_negative_offset_is_rejected(client, org):
    assert_error(client.get("/v1/jobs?offset=-1", headers=org.headers), 400, "invalid_field", "offset")


def test_page_is_an_alternative_to_offset(client, org, twelve_jobs):
    by_page = list_jobs(client, org, "page=2&limit=3")
    by_offset = list_jobs(client, org, "offset=3&limit=3")

    assert by_page == by_offset
    assert ids(by_page) == twelve_jobs[3:6]
    assert by_page["pagination"]["offset"] == 3


def test_page_1_is_the_first_page(client, org, twelve_jobs):
    assert ids(list_jobs(client, org, "page=1&limit=3")) == twelve_jobs[:3]


@pytest.mark.parametrize("page", ["0", "-1", "two"])
def test_page_below_1_or_not_an_integer_is_rejected(client, org, page):
    assert_error(client.get(f"/v1/jobs?page={page}", headers=org.headers), 400, "invalid_field", "page")


def test_has_next_is_true_before_the_last_page(client, org, twelve_jobs):
    assert list_jobs(client, org, "limit=5&page=2")["pagination"]["has_next"] is True


def test_has_next_is_false_on_the_last_page(client, org, twelve_jobs):
    body = list_jobs(client, org, "limit=5&page=3")

    assert ids(body) == twelve_jobs[10:]
    assert body["pagination"]["has_next"] is False


def test_has_next_is_false_when_the_last_page_is_exactly_full(client, org, twelve_jobs):
    assert list_jobs(client, org, "limit=6&page=2")["pagination"]["has_next"] is False


def test_has_next_is_false_beyond_the_last_page(client, org, twelve_jobs):
    body = list_jobs(client, org, "limit=5&page=4")

    assert body["jobs"] == []
    assert body["pagination"] == {"limit": 5, "offset": 15, "total": 12, "has_next": False}


def test_pages_cover_every_job_exactly_once(client, org, twelve_jobs):
    seen = []
    for page in range(1, 4):
        seen += ids(list_jobs(client, org, f"limit=5&page={page}"))

    assert seen == twelve_jobs


# --- status filter ------------------------------------------------------------------------------


@pytest.fixture
def jobs_by_status(org, make_job):
    """One job per status plus a second completed one, one second apart; {name: id}."""
    base = now_utc() - timedelta(hours=1)
    names = ["created", "running", "completed", "failed", "cancelled", "completed2"]
    return {
        name: make_job(org, status=name.rstrip("2"), created_at=base + timedelta(seconds=i))
        for i, name in enumerate(names)
    }


def test_status_filter_with_one_status(client, org, jobs_by_status):
    body = list_jobs(client, org, "status=completed")

    assert ids(body) == [jobs_by_status["completed2"], jobs_by_status["completed"]]
    assert {job["status"] for job in body["jobs"]} == {"completed"}


def test_status_filter_with_a_comma_separated_list(client, org, jobs_by_status):
    body = list_jobs(client, org, "status=running,failed")

    assert ids(body) == [jobs_by_status["failed"], jobs_by_status["running"]]


def test_total_respects_filters(client, org, jobs_by_status):
    body = list_jobs(client, org, "status=completed,cancelled&limit=1")

    assert body["pagination"] == {"limit": 1, "offset": 0, "total": 3, "has_next": True}


@pytest.mark.parametrize("status", ["done", "running,done", "RUNNING"])
def test_unknown_status_is_rejected(client, org, status):
    assert_error(client.get(f"/v1/jobs?status={status}", headers=org.headers), 400, "invalid_field", "status")


# --- include ------------------------------------------------------------------------------------


def test_without_include_stats_and_progress_are_absent(client, org, make_job):
    make_job(org)

    job = list_jobs(client, org)["jobs"][0]

    assert "stats" not in job and "progress" not in job


def test_every_listed_job_carries_its_domain_as_the_host_string(client, org, make_job):
    make_job(org, domain="listed.example")
    make_job(org, domain="localhost:8081")

    jobs = list_jobs(client, org)["jobs"]

    assert [job["domain"] for job in jobs] == ["localhost:8081", "listed.example"]
    assert all(isinstance(job["domain_id"], int) for job in jobs)


def test_listed_job_has_the_fields_of_the_job_object_with_organisation_id_a_string(client, org):
    created = client.post("/v1/jobs", json={"domain": "example.com"}, headers=org.headers).get_json()

    job = list_jobs(client, org)["jobs"][0]

    assert {key: job[key] for key in created} == created
    assert job["organisation_id"] == str(org.id)


def test_include_adds_stats_and_progress(client, org, make_job):
    make_job(
        org, domain="included.example", status="running", total_tasks=4, completed_tasks=1, failed_tasks=1,
        timed_pages=2, response_time_ms_sum=300, cache_known_pages=2, cache_hit_pages=1, total_bytes=2048,
    )  # fmt: skip

    job = list_jobs(client, org, "include=stats,progress,domain")["jobs"][0]

    assert job["progress"] == {
        "total_tasks": 4, "completed_tasks": 1, "failed_tasks": 1, "skipped_tasks": 0, "percentage": 50.0,
    }  # fmt: skip
    assert {key: value for key, value in job["stats"].items() if value is not None} == {
        "avg_response_time": 150, "cache_hit_ratio": 0.5, "total_bytes": 2048, "pages_warmed": 0,
        "cache_hit_ratio_after_warming": 0.0, "avg_response_time_after_warming": 0,
        "external_links_checked": 0, "external_broken": 0, "external_from_cache": 0,
    }  # fmt: skip  (the distribution is null while the job runs)
    assert job["domain"] == "included.example"


@pytest.mark.parametrize("include", ["stats", "progress"])
def test_include_adds_only_what_was_asked(client, org, make_job, include):
    make_job(org)

    job = list_jobs(client, org, f"include={include}")["jobs"][0]

    assert include in job
    assert not ({"stats", "progress"} - {include}) & set(job)


def test_include_domain_is_accepted_and_changes_nothing(client, org, make_job):
    make_job(org, domain="plain.example")

    assert list_jobs(client, org, "include=domain") == list_jobs(client, org)
    assert list_jobs(client, org, "include=domain")["jobs"][0]["domain"] == "plain.example"


@pytest.mark.parametrize("include", ["tasks", "stats,tasks"])
def test_unknown_include_is_rejected(client, org, include):
    assert_error(client.get(f"/v1/jobs?include={include}", headers=org.headers), 400, "invalid_field", "include")


# --- range --------------------------------------------------------------------------------------


@pytest.mark.parametrize("range_name", ["today", "24h", "7d", "30d", "90d", "all"])
def test_every_range_is_accepted_and_includes_a_job_created_now(client, org, make_job, range_name):
    job_id = make_job(org)

    assert ids(list_jobs(client, org, f"range={range_name}")) == [job_id]


@pytest.mark.parametrize("range_name", ["week", "1d", "7D", "365d"])
def test_unknown_range_is_rejected(client, org, range_name):
    assert_error(client.get(f"/v1/jobs?range={range_name}", headers=org.headers), 400, "invalid_field", "range")


def test_range_all_is_the_default_and_includes_old_jobs(client, org, make_job):
    old = make_job(org, created_at=now_utc() - timedelta(days=400))

    assert ids(list_jobs(client, org)) == [old]
    assert ids(list_jobs(client, org, "range=all")) == [old]


def test_range_24h_is_the_last_24_hours(client, org, make_job):
    now = now_utc()
    inside = make_job(org, created_at=now - timedelta(hours=23, minutes=59))
    make_job(org, created_at=now - timedelta(hours=24, minutes=1))

    assert ids(list_jobs(client, org, "range=24h")) == [inside]


@pytest.mark.parametrize("tz_offset", [-600, 0, 300])
def test_range_today_starts_at_local_midnight(client, org, make_job, tz_offset):
    midnight = local_midnight_utc(tz_offset)
    after_midnight = make_job(org, created_at=midnight + timedelta(minutes=1))
    make_job(org, created_at=midnight - timedelta(minutes=1))

    assert ids(list_jobs(client, org, f"range=today&tzOffset={tz_offset}")) == [after_midnight]


def test_range_today_depends_on_the_timezone(client, org, make_job):
    # The last local midnights in UTC+10 and in UTC-5 are 9 or 15 hours apart; a job between them is
    # "today" in exactly one of the two zones (the one whose midnight came first), whatever the time.
    east, west = local_midnight_utc(-600), local_midnight_utc(300)
    early, late = min(east, west), max(east, west)
    job_id = make_job(org, created_at=early + (late - early) / 2)
    in_east = job_id in ids(list_jobs(client, org, "range=today&tzOffset=-600"))
    in_west = job_id in ids(list_jobs(client, org, "range=today&tzOffset=300"))

    assert (in_east, in_west) == (east == early, west == early)


@pytest.mark.parametrize(("range_name", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
@pytest.mark.parametrize("tz_offset", [-600, 0, 300])
def test_range_of_n_days_starts_at_local_midnight_n_minus_1_days_ago(client, org, make_job, range_name, days, tz_offset):
    midnight = local_midnight_utc(tz_offset, days_ago=days - 1)
    inside = make_job(org, created_at=midnight + timedelta(minutes=1))
    make_job(org, created_at=midnight - timedelta(minutes=1))

    assert ids(list_jobs(client, org, f"range={range_name}&tzOffset={tz_offset}")) == [inside]


def test_range_combines_with_status_and_total(client, org, make_job):
    now = now_utc()
    recent_failed = make_job(org, status="failed", created_at=now - timedelta(hours=1))
    make_job(org, status="failed", created_at=now - timedelta(days=3))
    make_job(org, status="completed", created_at=now - timedelta(hours=1))

    body = list_jobs(client, org, "range=24h&status=failed")

    assert ids(body) == [recent_failed]
    assert body["pagination"]["total"] == 1


@pytest.mark.parametrize("tz_offset", ["-840", "840"])
def test_tz_offset_at_its_bounds_is_accepted(client, org, tz_offset):
    list_jobs(client, org, f"range=today&tzOffset={tz_offset}")


@pytest.mark.parametrize("tz_offset", ["-841", "841", "abc", "1.5", ""])
def test_tz_offset_outside_bounds_or_not_an_integer_is_rejected(client, org, tz_offset):
    response = client.get(f"/v1/jobs?range=today&tzOffset={tz_offset}", headers=org.headers)

    assert_error(response, 400, "invalid_field", "tzOffset")
