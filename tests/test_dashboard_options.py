"""The job option fields of the dashboard's forms are generated from `JobOptions`: an option added to
the model appears in every form that takes options (new crawl, new schedule, new trigger) with its
label, input type, bounds and default, and a post of the form reads back into options the model
accepts; a secret never comes back into the page. Through Flask's test client with the fake
scheduler. The same forms in a real browser: tests/integration/test_dashboard_browser.py."""
from __future__ import annotations

import re
from enum import Enum
from html import unescape
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from werkzeug.datastructures import MultiDict

from contract.options import JobOptions
from control_api.dashboard.forms import errors as form_errors
from control_api.dashboard.forms import option_fields
from tests.helpers import make_test_app
from tests.test_dashboard import field_error, sign_in

FORM_PAGES = ("/app/jobs/new", "/app/schedules/new", "/app/triggers/new")


class Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: str = Field(description="User name.")
    password: str = Field(description="Password.", json_schema_extra={"secret": True})


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


class ExtendedOptions(JobOptions):
    """JobOptions with one option of every kind the forms know, as a later issue would add them."""

    check_external_links: bool = Field(False, description="Also check links to other sites.")
    max_depth: int | None = Field(None, ge=0, le=50, description="Deepest link level followed.")
    ratio: float = Field(0.5, gt=0, le=1, description="A share of something.")
    user_agent: str = Field("crawler", max_length=40, description="User agent sent.")
    include: list[str] = Field(default_factory=list, description="Only URLs matching one of these regexes.")
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers sent.")
    basic_auth: Auth | None = Field(None, description="HTTP basic authentication.")
    mode: Literal["fast", "polite"] = Field("polite", description="Crawl mode.")
    colour: Colour = Field(Colour.RED, description="A colour.")
    wait_ms: int = Field(100, ge=1, description="Wait between requests.")
    token: SecretStr | None = Field(None, description="Bearer token; sent to the site only.")


@pytest.fixture
def client(database_url, scheduler):
    app = make_test_app(database_url, scheduler)
    yield app.test_client()
    app.extensions["db_engine"].dispose()


@pytest.fixture
def extended(monkeypatch):
    monkeypatch.setattr(option_fields, "MODEL", ExtendedOptions)
    return ExtendedOptions


def html(response) -> str:
    assert response.status_code in (200, 400), response.status_code
    return response.get_data(as_text=True)


def tag(page: str, name: str, element: str = "input") -> str:
    match = re.search(rf'<{element} id="{re.escape(name)}"[^>]*>', page)
    assert match, f"no <{element}> {name}"
    return match.group(0)


def label(page: str, name: str) -> str:
    """An input's label, or the legend of a small model's fieldset (e.g. basic_auth)."""
    match = re.search(rf'<label for="{re.escape(name)}">([^<]*)</label>', page) or re.search(
        rf'<fieldset id="{re.escape(name)}">\s*<legend>([^<]*)</legend>', page)
    assert match, f"no label or legend for {name}"
    return unescape(match.group(1))


def test_every_option_of_the_contract_is_in_every_form(client, org):
    sign_in(client, org)
    for path in FORM_PAGES:
        page = html(client.get(path))
        for name, info in JobOptions.model_fields.items():  # the description up to a "; " (all of it on a checkbox)
            assert info.description.startswith(label(page, name)) and len(label(page, name)) > 10, (path, name)
        assert label(page, "max_pages") == "Most pages to crawl" and "0 means unlimited. 0 or more." in page
        assert label(page, "use_sitemap") == "Discover pages from robots.txt Sitemap: lines and sitemaps"
        assert 'type="number"' in tag(page, "max_pages") and 'min="0"' in tag(page, "max_pages")
        assert 'max="' not in tag(page, "max_pages") and 'value="0"' in tag(page, "max_pages")
        assert 'min="1"' in tag(page, "concurrency") and 'max="100"' in tag(page, "concurrency")
        assert 'value="20"' in tag(page, "concurrency") and 'max="600000"' in tag(page, "slow_page_threshold_ms")
        assert "1 to 600,000 ms." in page  # the bounds as a hint, the unit from the name's _ms
        assert " checked" in tag(page, "use_sitemap") and " checked" not in tag(page, "check_resources")


def test_an_option_added_to_the_model_appears_in_every_form(client, org, extended):
    sign_in(client, org)
    for path in FORM_PAGES:
        page = html(client.get(path))
        assert label(page, "check_external_links") == "Also check links to other sites"
        assert 'type="checkbox"' in tag(page, "check_external_links")
        depth = tag(page, "max_depth")
        assert 'type="number"' in depth and 'min="0"' in depth and 'max="50"' in depth and 'value=""' in depth
        assert "0 to 50; empty for none." in page
        ratio = tag(page, "ratio")
        assert 'step="any"' in ratio and 'min="0"' in ratio and 'max="1"' in ratio and 'value="0.5"' in ratio
        assert 'type="text"' in tag(page, "user_agent") and 'value="crawler"' in tag(page, "user_agent")
        assert tag(page, "include", "textarea") and tag(page, "headers", "textarea")
        assert "One “Name: value” per line." in page
        assert "<legend>HTTP basic authentication</legend>" in page
        assert label(page, "basic_auth.username") == "User name"
        assert 'type="password"' in tag(page, "basic_auth.password")
        assert '<option value="polite" selected>' in page and '<option value="red" selected>' in page
        assert "1 ms or more." in page
        assert 'type="password"' in tag(page, "token") and "Sent to the site only. Never shown again once sent." in page


def test_a_post_of_the_added_options_reads_back_into_the_model(extended):
    form = MultiDict({"max_pages": "7", "concurrency": "", "use_sitemap": "1", "check_external_links": "1",
                      "max_depth": "3", "ratio": "0.25", "user_agent": " bot ", "include": "^/blog/\n\n  ^/news/ \n",
                      "headers": "X-Token: abc: def\nAccept:text/html\n", "basic_auth.username": "ann",
                      "basic_auth.password": " s3cret ", "mode": "fast", "colour": "blue", "wait_ms": "5", "token": "t0ken"})  # fmt: skip
    read = option_fields.read_options(form)
    assert read.errors == {}
    options = extended.model_validate(read.options)
    assert options.max_pages == 7 and options.concurrency == 20  # empty: the default
    assert options.use_sitemap and not options.find_links and options.check_external_links  # unticked: False
    assert (options.max_depth, options.ratio, options.user_agent) == (3, 0.25, "bot")
    assert options.include == ["^/blog/", "^/news/"]
    assert options.headers == {"X-Token": "abc: def", "Accept": "text/html"}
    assert options.basic_auth == Auth(username="ann", password=" s3cret ")  # a password is taken as typed
    assert (options.mode, options.colour, options.wait_ms) == ("fast", Colour.BLUE, 5)
    assert options.token.get_secret_value() == "t0ken" and "token" not in read.values
    assert "basic_auth.password" not in read.values and read.values["basic_auth.username"] == "ann"
    # left empty: an optional number and an optional model are None
    read = option_fields.read_options(MultiDict({"max_depth": " ", "basic_auth.username": ""}))
    assert read.options["max_depth"] is None and read.options["basic_auth"] is None
    assert extended.model_validate(read.options).basic_auth is None


def test_what_cannot_be_read_is_named_per_field(extended):
    read = option_fields.read_options(MultiDict({"max_depth": "two", "ratio": "nan", "headers": "Accept: x\nno colon"}))
    assert read.errors == {"max_depth": "must be a whole number", "ratio": "must be a number",
                           "headers": "line 2: write it as “Name: value”"}  # fmt: skip
    read = option_fields.read_options(MultiDict({"ratio": "0", "basic_auth.username": "ann", "include": "a\nb"}))
    # the request models nest the options under "options": each refusal lands on its form field
    refusal = _nested_refusal(read.options)
    assert refusal.error_count() == 2
    assert form_errors.field_errors(refusal) == {"ratio": "input should be greater than 0",
                                                   "basic_auth.password": "is required"}  # fmt: skip


def _nested_refusal(options: dict) -> ValidationError:
    class Request(BaseModel):
        options: ExtendedOptions

    try:
        Request.model_validate({"options": options})
    except ValidationError as exc:
        return exc
    raise AssertionError("accepted")


def test_a_refused_post_shows_the_error_by_its_field_and_never_the_secret(client, org, extended):
    """The request models still hold the real JobOptions, which refuses an unknown option: the
    refusal is shown next to that option's field, and the password typed is not in the page."""
    token = sign_in(client, org)
    for path, fields in (("/app/jobs/new", {"domain": "example.com"}),
                         ("/app/schedules/new", {"domain": "example.com", "interval_hours": "6"}),
                         ("/app/triggers/new", {"domain": "example.com", "name": "publish"})):  # fmt: skip
        typed = {"basic_auth.username": "ann", "basic_auth.password": "hunter2-secret", "user_agent": "bot/1"}
        response = client.post(path, data={**fields, **typed, "csrf_token": token})
        page = html(response)
        assert response.status_code == 400, path
        assert field_error(response, "user_agent") == "Extra inputs are not permitted"
        assert "hunter2-secret" not in page and 'value=""' in tag(page, "basic_auth.password")
        assert 'value="ann"' in tag(page, "basic_auth.username") and 'value="bot/1"' in tag(page, "user_agent")


def test_a_number_outside_its_bounds_is_refused_in_the_apis_words(client, org):
    token = sign_in(client, org)
    for path, fields in (("/app/jobs/new", {"domain": "example.com"}),
                         ("/app/schedules/new", {"domain": "example.com", "interval_hours": "6"}),
                         ("/app/triggers/new", {"domain": "example.com", "name": "publish"})):  # fmt: skip
        response = client.post(path, data={**fields, "concurrency": "0", "slow_page_threshold_ms": "1.5",
                                           "csrf_token": token})  # fmt: skip
        assert response.status_code == 400, path
        assert field_error(response, "slow_page_threshold_ms") == "Must be a whole number"
        response = client.post(path, data={**fields, "concurrency": "0", "csrf_token": token})
        assert field_error(response, "concurrency") == "Input should be greater than or equal to 1"
        assert 'aria-invalid="true"' in tag(html(response), "concurrency")


def test_a_type_the_forms_cannot_show_is_refused_by_name():
    class Odd(BaseModel):
        weights: dict[str, int] = Field(default_factory=dict)

    with pytest.raises(TypeError, match="job option 'weights'"):
        option_fields.fields_of(Odd)


def test_a_list_row_names_the_options_that_differ_from_the_defaults(extended):
    stored = {**ExtendedOptions().model_dump(mode="json"), "max_pages": 40, "find_links": False,
              "include": ["^/a", "^/b"], "basic_auth": {"username": "ann", "password": "hunter2"}}  # fmt: skip
    assert option_fields.summary(stored) == ["find_links: off", "max_pages: 40", "include: 2 entries",
                                             "basic_auth.username: ann", "basic_auth.password: set"]  # fmt: skip
    assert option_fields.summary(ExtendedOptions().model_dump(mode="json")) == []


def test_no_option_is_named_like_a_field_the_forms_have_of_their_own():
    """An option named "name" would be read as the trigger's name, and the other way round."""
    own = {"csrf_token", "domain", "allow_concurrent", "interval_hours", "enabled", "name", "url", "events", "options"}
    assert own.isdisjoint(field.name for field in option_fields.option_fields())
