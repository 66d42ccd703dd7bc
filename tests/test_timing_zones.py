"""Reader timezones: an IANA name (or "" for the site's) wherever it is set — the sign-up
form's browser hint (an unknown one is dropped, the sign-up goes on), the CSV import's
``timezone`` column (the row is refused), the preferences page, and the API."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.services import Services
from subscribers.bulk import import_csv
from subscribers.errors import ImportRejected, InvalidTimezone
from subscribers.models import ConsentRecord, Subscriber
from subscribers.service import Source, subscribe
from subscribers.zones import check_timezone
from tests.fixtures.web import LiveSite, Outbox, add_subscriber, link, token_url
from tests.test_web_browser import browser  # noqa: F401  (the fixture)

BAD = ["Mars/Olympus", "asia/seoul", "localtime", "posixrules", "../etc/passwd",
       "/usr/share/zoneinfo/UTC", "Asia/Seoul ", "Asia/Seoul\n", "x" * 500]  # fmt: skip


def _zone(services: Services, email: str) -> str | None:
    with services.sessions() as session:
        return session.scalar(select(Subscriber.timezone).where(Subscriber.email == email))


@pytest.mark.parametrize("name", ["Asia/Seoul", "Europe/Berlin", "America/New_York", "UTC"])
def test_known_names_pass(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize("name", BAD)
def test_unknown_names_are_refused_in_one_line_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidTimezone) as caught:
        check_timezone(name)
    message = str(caught.value)
    assert message.startswith("timezone: unknown timezone") and "\n" not in message
    assert len(message) < 200


def test_the_store_refuses_an_unknown_zone_on_subscribe(session: Session) -> None:
    with pytest.raises(InvalidTimezone):
        subscribe(
            session,
            email="a@example.org",
            newsletters=["weekly"],
            source=Source.ADMIN,
            confirmed=True,
            timezone="Mars/Olympus",
        )


# --- the sign-up form ------------------------------------------------------------------------


def test_the_form_carries_the_hint_and_a_known_one_is_kept(
    web_client: TestClient, services: Services
) -> None:
    page = web_client.get("/subscribe").text
    assert re.search(r'<input type="hidden" name="timezone" value="" data-nl-timezone>', page)
    done = web_client.post(
        "/subscribe",
        data={"email": "berlin@example.org", "newsletters": "weekly", "timezone": "Europe/Berlin"},
    )
    assert done.status_code == 200
    assert _zone(services, "berlin@example.org") == "Europe/Berlin"


@pytest.mark.parametrize("hint", ["Mars/Olympus", "localtime", "../../etc/passwd", "x" * 900])
def test_an_unknown_hint_is_dropped_and_the_sign_up_goes_on(
    web_client: TestClient, services: Services, outbox: Outbox, hint: str
) -> None:
    done = web_client.post(
        "/subscribe", data={"email": "odd@example.org", "newsletters": "weekly", "timezone": hint}
    )
    assert done.status_code == 200
    assert _zone(services, "odd@example.org") == ""  # the site's
    assert outbox.wait_for("odd@example.org")  # the confirmation went


def test_an_existing_readers_hint_waits_for_their_confirmation(
    web_client: TestClient, services: Services, outbox: Outbox
) -> None:
    add_subscriber(services, "known@example.org", ("letters",))
    web_client.post(
        "/subscribe",
        data={"email": "known@example.org", "newsletters": "weekly", "timezone": "Asia/Tokyo"},
    )
    assert _zone(services, "known@example.org") == ""
    with services.sessions() as session:
        changes = session.scalars(select(ConsentRecord.changes)).all()
    assert [c.get("timezone") for c in changes if c] == ["Asia/Tokyo"]
    [message] = outbox.wait_for("known@example.org")
    web_client.post(link(message, "confirm"))
    assert _zone(services, "known@example.org") == "Asia/Tokyo"


# --- the preferences page --------------------------------------------------------------------


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_the_preferences_page_sets_a_zone_and_refuses_an_unknown_one(
    web_client: TestClient, services: Services
) -> None:
    person = add_subscriber(services, "p@example.org", ("weekly",))
    url = token_url(services, "preferences", person)
    page = web_client.get(url).text
    assert '<select id="timezone" name="timezone"' in page
    assert "<option>America/New_York</option>" in page
    form = {
        "action": "save",
        "csrf_token": _csrf(page),
        "newsletters": "weekly",
        "timezone_shown": "1",
    }
    saved = web_client.post(
        url, data={**form, "timezone": "America/New_York"}, follow_redirects=False
    )
    assert saved.status_code == 303
    assert _zone(services, "p@example.org") == "America/New_York"
    again = web_client.get(url).text
    assert "<option selected>America/New_York</option>" in again

    refused = web_client.post(
        url, data={**form, "timezone": "Mars/Olympus"}, follow_redirects=False
    )
    assert refused.status_code == 303 and "done=bad_timezone" in refused.headers["location"]
    shown = web_client.get(refused.headers["location"]).text
    assert 'role="alert"' in shown and ("시간대:" in shown or "Timezone:" in shown)
    assert _zone(services, "p@example.org") == "America/New_York"  # nothing changed

    back = web_client.post(url, data={**form, "timezone": ""}, follow_redirects=False)
    assert back.status_code == 303 and _zone(services, "p@example.org") == ""


# --- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Mars/Olympus", "localtime", "asia/seoul"])
def test_the_api_refuses_an_unknown_zone_with_a_problem_naming_the_field(
    api: TestClient, services: Services, name: str
) -> None:
    created = api.post("/api/v1/subscribers", json={"email": "z@example.org", "timezone": name})
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in created.json()["errors"]] == ["timezone"]
    assert _zone(services, "z@example.org") is None  # nobody written
    person = add_subscriber(services, "y@example.org", ("weekly",))
    changed = api.patch(f"/api/v1/subscribers/{person}", json={"timezone": name})
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "timezone"
    good = api.post(
        "/api/v1/subscribers", json={"email": "ok@example.org", "timezone": "Asia/Seoul"}
    )
    assert good.status_code == 201 and _zone(services, "ok@example.org") == "Asia/Seoul"


# --- the CSV import --------------------------------------------------------------------------


def _csv(rows: list[list[str]], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_the_import_column_sets_zones_and_refuses_every_bad_row(
    session: Session, tmp_path: Path, add_active: Callable[..., int]
) -> None:
    add_active("old@example.org")
    path = _csv(
        [
            ["email", "name", "timezone"],
            ["seoul@example.org", "서울", "Asia/Seoul"],
            ["mars@example.org", "Mars", "Mars/Olympus"],
            ["ny@example.org", "NY", "America/New_York"],
            ["none@example.org", "None", ""],
            ["lower@example.org", "Lower", "europe/berlin"],
            ["old@example.org", "Old", "Europe/Berlin"],
        ],
        tmp_path / "people.csv",
    )
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, path, newsletter_id="weekly")
    assert "2 invalid row(s), first at line 3: timezone: 'Mars/Olympus'" in str(caught.value)
    session.rollback()
    assert (
        session.scalar(select(Subscriber.id).where(Subscriber.email == "seoul@example.org")) is None
    )

    summary = import_csv(session, path, newsletter_id="weekly", partial=True)
    session.commit()
    assert summary.invalid == 2
    assert [(r.line, r.reason) for r in summary.rejects] == [
        (3, "timezone: 'Mars/Olympus' is not an IANA timezone name (e.g. Asia/Seoul)"),
        (6, "timezone: 'europe/berlin' is not an IANA timezone name (e.g. Asia/Seoul)"),
    ]
    assert summary.rejects_file is not None
    with open(summary.rejects_file, encoding="utf-8") as handle:
        rejected = handle.read()
    assert "mars@example.org" in rejected and "lower@example.org" in rejected
    zones = dict(session.execute(select(Subscriber.email, Subscriber.timezone)).all())
    assert zones["seoul@example.org"] == "Asia/Seoul"
    assert zones["ny@example.org"] == "America/New_York"
    assert zones["none@example.org"] == ""
    assert zones["old@example.org"] == "Europe/Berlin"  # an existing reader's zone too
    assert "mars@example.org" not in zones and "lower@example.org" not in zones


# --- a real browser: the hint's script runs under the page's policy ---------------------------


@pytest.mark.browser
def test_chromium_sends_its_own_timezone_with_the_sign_up(
    browser: Any,  # noqa: F811  (the fixture of tests/test_web_browser.py)
    live_site: LiveSite,
) -> None:
    context = browser.new_context(locale="ko-KR", timezone_id="America/New_York")
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text))
    page.goto(f"{live_site.url}/subscribe")
    assert page.locator("input[name=timezone]").input_value() == "America/New_York"
    page.get_by_label("이메일 주소").fill("browser@example.com")
    page.get_by_label("Weekly").check()
    page.get_by_role("button", name="구독하기").click()
    page.get_by_role("heading", name="메일함을 확인해 주세요").wait_for()
    context.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    assert _zone(live_site.services, "browser@example.com") == "America/New_York"
