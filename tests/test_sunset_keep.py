"""The "yes, keep sending" link: GET shows a button and changes nothing (a scanner's GET or
a prefetch is no answer), POST keeps; after a removal as inactive it subscribes again;
a forged or foreign token is a 404; the English email for an English newsletter."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from newsletter.automations.sunset import service
from newsletter.db import transaction
from newsletter.services import Services
from subscribers import service as subscriptions
from subscribers.db import utcnow
from tests.admin_support import add_account, login_as
from tests.fixtures.web import add_subscriber, body_text, link, statuses, token_url
from tests.sunset_support import age, asks_to, episodes, outbox, send
from tests.tracking_support import Tracked, app_client, path_of

pytestmark = pytest.mark.db
ONE = {"after_issues": 1, "grace": "14d"}
READER = "quiet@naver.com"
SCANNER = {"user-agent": "Mozilla/5.0 (compatible; Barracuda Sentinel)"}


def asked(tracked: Tracked) -> tuple[Services, int, str]:
    """A reader who got one tracked issue, never clicked, and was asked: (services, id,
    the path of their yes link)."""
    services = tracked(tracking="per_reader", sunset=ONE)
    subscriber_id = add_subscriber(services, READER, ("weekly",))
    send(services, "s0")
    service.run_all(services)
    (ask,) = asks_to(services, READER)
    return services, subscriber_id, path_of(link(ask, "keep"))


def test_get_shows_a_button_and_never_answers(tracked: Tracked) -> None:
    services, subscriber_id, keep = asked(tracked)
    with app_client(services) as client:
        page = client.get(keep)
        assert page.status_code == 200
        assert f'action="https://news.example.org{keep}"' in page.text
        assert "네, 계속 받을게요" in page.text
        assert client.get(keep, headers=SCANNER).status_code == 200
        assert client.get(keep, headers={"sec-purpose": "prefetch"}).status_code == 200
        assert client.head(keep).status_code in (200, 405)
    assert episodes(services, subscriber_id) == [(1, "asked")]
    age(services, timedelta(days=15))
    service.run_all(services)
    assert statuses(services, subscriber_id) == {"weekly": "unsubscribed"}


def test_post_keeps_the_reader(tracked: Tracked) -> None:
    services, subscriber_id, keep = asked(tracked)
    with app_client(services) as client:
        answer = client.post(keep)
        assert answer.status_code == 200 and "계속 보내 드리겠습니다" in answer.text
        assert client.post(keep).status_code == 200  # twice: nothing more
    assert episodes(services, subscriber_id) == [(1, "kept")]
    age(services, timedelta(days=30))
    (report,) = service.run_all(services)
    assert report.remove == [] and report.ask == []
    assert statuses(services, subscriber_id) == {"weekly": "active"}
    assert len(asks_to(services, READER)) == 1


def test_yes_after_the_removal_subscribes_again(tracked: Tracked) -> None:
    services, subscriber_id, keep = asked(tracked)
    age(services, timedelta(days=15))
    service.run_all(services)
    assert statuses(services, subscriber_id) == {"weekly": "unsubscribed"}
    with app_client(services) as client:
        assert client.get(keep).status_code == 200
        assert statuses(services, subscriber_id) == {"weekly": "unsubscribed"}
        answer = client.post(keep)
    assert answer.status_code == 200 and "다시 보내 드리겠습니다" in answer.text
    assert statuses(services, subscriber_id) == {"weekly": "active"}


def test_yes_after_leaving_by_choice_changes_nothing(tracked: Tracked) -> None:
    services, subscriber_id, keep = asked(tracked)
    with transaction(services.sessions) as session:
        subscriptions.unsubscribe(session, subscriber_id=subscriber_id, newsletter_id="weekly")
    with app_client(services) as client:
        page = client.get(keep)
        assert "구독하고 있지 않습니다" in page.text and "<form" not in page.text
        assert "구독하고 있지 않습니다" in client.post(keep).text
    assert statuses(services, subscriber_id) == {"weekly": "unsubscribed"}


def test_forged_and_foreign_tokens_are_404(tracked: Tracked) -> None:
    services, subscriber_id, keep = asked(tracked)
    other = add_subscriber(services, "other@gmail.com", ("weekly",))
    token = keep.rsplit("/", 1)[1]
    body, _, mac = token.partition(".")
    foreign = services.tokens.dumps("keep", other, "weekly", ref=1)  # not their episode
    wrong_purpose = services.tokens.dumps("unsubscribe", subscriber_id, "weekly")
    with app_client(services) as client:
        for bad in (
            f"{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}",
            foreign,
            wrong_purpose,
            "nothing",
        ):
            assert client.get(f"/keep/{bad}").status_code == 404
            assert client.post(f"/keep/{bad}").status_code == 404
    assert episodes(services, subscriber_id) == [(1, "asked")]


def test_the_english_newsletter_asks_in_english(tracked: Tracked) -> None:
    services = tracked(tracking="per_reader", sunset=ONE)
    letters = services.settings.newsletters[1].model_copy(
        update={"tracking": "per_reader", "sunset": services.settings.newsletters[0].sunset}
    )
    settings = services.settings.model_copy(
        update={"newsletters": [services.settings.newsletters[0], letters]}
    )
    services = Services(settings=settings, engine=services.engine, sessions=services.sessions)
    add_subscriber(services, "reader@gmail.com", ("letters",))
    send(services, "l0", newsletter="letters")
    service.run_all(services, newsletter_id="letters")
    (ask,) = asks_to(services, "reader@gmail.com")
    assert ask["Subject"] == "[Test Letters] Do you still want this?"
    assert "Yes, keep sending" in body_text(ask) and "last 1 issues" in body_text(ask)
    assert "<letters." in ask["List-Id"]


def test_the_dashboard_counts_asked_kept_and_removed(tracked: Tracked) -> None:
    services, quiet, keep = asked(tracked)
    other = add_subscriber(services, "other@gmail.com", ("weekly",))
    send(services, "s1")  # other's only issue; quiet's second
    service.run_all(services)  # asks other (its window is s1)
    add_account(services, "owner@example.org", "owner")
    with app_client(services) as client:
        assert client.post(keep).status_code == 200  # quiet keeps
        age(services, timedelta(days=15))
        service.run_all(services)  # other is removed
        login_as(client, "owner@example.org")
        page = client.get("/admin/subscribers")
    assert statuses(services, other) == {"weekly": "unsubscribed"}
    assert statuses(services, quiet) == {"weekly": "active"}
    row = page.text.split('<table id="sunset">', 1)[1].split("</table>", 1)[0]
    cells = [c.split("</td>")[0] for c in row.split("<td>")[1:]]
    # newsletter, asked, waiting, said yes, back by a click, removed
    assert cells == ["Weekly", "2", "0", "1", "0", "1"]


def removed(tracked: Tracked) -> tuple[Services, int]:
    """A reader removed as inactive (asked, and the grace passed)."""
    services, subscriber_id, _keep = asked(tracked)
    age(services, timedelta(days=15))
    service.run_all(services)
    assert statuses(services, subscriber_id) == {"weekly": "unsubscribed"}
    return services, subscriber_id


def test_the_sign_up_form_brings_a_removed_reader_back(tracked: Tracked) -> None:
    services, subscriber_id = removed(tracked)
    with app_client(services) as client:
        assert client.post(
            "/subscribe", data={"email": READER, "newsletters": ["weekly"]}
        ).is_success
        (confirm,) = [m for m in outbox(services).to(READER) if "/confirm/" in body_text(m)]
        confirm_path = path_of(link(confirm, "confirm"))
        assert client.post(confirm_path).status_code == 200
    assert statuses(services, subscriber_id) == {"weekly": "active"}
    # A fresh start: the issues before the return judge nobody, a new one after it does.
    assert service.run_all(services)[0].ask == []
    send(services, "s1")
    (report,) = service.run_all(services)
    assert [e.email for e in report.ask] == [READER]
    assert episodes(services, subscriber_id) == [(1, "removed"), (2, "asked")]


def test_the_preferences_page_brings_a_removed_reader_back(tracked: Tracked) -> None:
    services, subscriber_id = removed(tracked)
    url = path_of(token_url(services, "preferences", subscriber_id))
    with app_client(services) as client:
        page = client.get(url)
        csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page.text)
        assert csrf is not None
        client.post(
            url, data={"csrf_token": csrf[1], "action": "resubscribe", "newsletter": "weekly"}
        )
    assert statuses(services, subscriber_id) == {"weekly": "active"}


def test_a_sequence_step_is_no_issue_of_the_window(tracked: Tracked) -> None:
    from newsletter.automations.sequences import service as sequences
    from tests.sequence_support import confirmed_reader, write_step

    services = tracked(tracking="per_reader", sunset=ONE)
    write_step(services.settings, "01-welcome", after="0", title="환영합니다")
    sequences.sync_steps(services, now=utcnow() - timedelta(hours=2))
    reader = confirmed_reader(services, READER, utcnow() - timedelta(hours=1))
    assert sequences.walk(services).sent == {"weekly/01-welcome": 1}
    (report,) = service.run_all(services, dry_run=True)
    assert report.window == [] and report.ask == []
    send(services, "s0")  # the first issue: now the reader can be judged
    (report,) = service.run_all(services, dry_run=True)
    assert report.window == ["s0"] and [e.subscriber_id for e in report.ask] == [reader]
