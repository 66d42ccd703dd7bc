"""What a stranger can do with the sign-up form and someone else's address: nothing that
takes effect before that person uses the link mailed to them (issue 11, point 1)."""

from __future__ import annotations

from email.message import EmailMessage

import httpx

from newsletter.delivery import RunOptions, start_send
from newsletter.services import Services
from subscribers.queries import require_subscriber
from tests.fixtures.delivery import stand_in_renderer
from tests.fixtures.web import LiveSite, add_subscriber, body_text, link, statuses

EVIL = "Bob. SECURITY NOTICE: verify at https://evil.example/verify"


def _issue_to(live_site: LiveSite, slug: str, address: str) -> EmailMessage:
    """Send issue ``slug`` through the real engine; the message that reached ``address``."""
    result = start_send(live_site.services, slug, options=RunOptions(renderer=stand_in_renderer))
    assert result.status == "sent"
    found = [m for m in live_site.outbox.to(address) if str(m["Subject"]).startswith(f"{slug}:")]
    assert found, f"issue {slug} did not reach {address}"
    return found[-1]


def _name(services: Services, sid: int) -> str:
    with services.sessions() as session:
        return require_subscriber(session, sid).name


def _post(client: httpx.Client, url: str, **data: object) -> httpx.Response:
    return client.post(f"{url}/subscribe", data=data)  # type: ignore[arg-type]


def test_a_strangers_sign_up_changes_nothing_until_the_mailed_link_is_used(
    live_site: LiveSite,
) -> None:
    services = live_site.services
    bob = add_subscriber(services, "bob@example.com", ("weekly",), name="Bob")
    with httpx.Client() as client:
        answer = _post(
            client, live_site.url, email="bob@example.com", name=EVIL, newsletters=["weekly"]
        )
        assert answer.status_code == 200
        before = _issue_to(live_site, "first", "bob@example.com")
        assert str(before["To"]) == "Bob <bob@example.com>"
        assert "SECURITY" not in body_text(before)
        assert _name(services, bob) == "Bob"
        assert statuses(services, bob) == {"weekly": "active"}

        # The link went to Bob's own inbox, greeting him with his stored name.
        confirmation = next(
            m
            for m in live_site.outbox.wait_for("bob@example.com", 2)
            if "/confirm/" in body_text(m)
        )
        assert "SECURITY" not in body_text(confirmation)
        url = link(confirmation, "confirm")
        page = client.get(url)
        assert page.status_code == 200 and "evil.example/verify" in page.text  # shown, escaped
        assert _name(services, bob) == "Bob"  # a GET never confirms
        assert client.post(url).status_code == 200
    assert _name(services, bob) == EVIL  # the person used the link: now it is theirs
    after = _issue_to(live_site, "second", "bob@example.com")
    assert "SECURITY NOTICE" in str(after["To"])


def test_a_strangers_newsletters_stay_pending_and_an_older_link_does_not_confirm_them(
    live_site: LiveSite,
) -> None:
    services = live_site.services
    with httpx.Client() as client:
        _post(client, live_site.url, email="amy@example.com", name="Amy", newsletters=["weekly"])
        (own,) = live_site.outbox.wait_for("amy@example.com")
        # Someone else signs Amy up to the other newsletter and renames her.
        _post(
            client, live_site.url, email="amy@example.com", name="Mallory", newsletters=["letters"]
        )
        live_site.outbox.wait_for("amy@example.com", 2)
        assert client.post(link(own, "confirm")).status_code == 200
    sid = _subscriber_id(services, "amy@example.com")
    assert statuses(services, sid) == {"weekly": "active", "letters": "pending"}
    assert _name(services, sid) == "Amy"


def _subscriber_id(services: Services, email: str) -> int:
    from subscribers.queries import find_subscriber

    with services.sessions() as session:
        person = find_subscriber(session, email)
        assert person is not None
        return person.id


def test_a_confirm_link_applies_once(live_site: LiveSite) -> None:
    services = live_site.services
    sid = add_subscriber(services, "cy@example.com", ("weekly",), name="Cy")
    with httpx.Client() as client:
        _post(client, live_site.url, email="cy@example.com", name="Cyrus", newsletters=["weekly"])
        (mail,) = live_site.outbox.wait_for("cy@example.com")
        url = link(mail, "confirm")
        client.post(url)
        assert _name(services, sid) == "Cyrus"
        from newsletter.db import transaction
        from subscribers.service import update_preferences

        with transaction(services.sessions) as session:
            update_preferences(session, subscriber_id=sid, name="Cy again")
        client.post(url)  # replaying the link does not re-apply an old change
    assert _name(services, sid) == "Cy again"


def test_a_typed_name_reaches_no_inbox_before_its_owner_confirms(live_site: LiveSite) -> None:
    with httpx.Client() as client:
        _post(client, live_site.url, email="new@example.com", name=EVIL, newsletters=["weekly"])
        (confirmation,) = live_site.outbox.wait_for("new@example.com")
        assert "SECURITY" not in body_text(confirmation)
        assert "SECURITY" not in str(confirmation["To"])
        page = client.get(link(confirmation, "confirm"))
        assert "evil.example/verify" in page.text  # the person sees what they would accept
