"""`newsletter demo`: sample data for a first run, safe to run on every start."""

from __future__ import annotations

import mailbox
import shutil
from pathlib import Path

from sqlalchemy import func, select

from newsletter.catalog import list_issues
from newsletter.demo import SAMPLE_READERS, prepare_demo
from newsletter.services import Services
from subscribers.models import Subscriber
from tests.conftest import REPO
from tests.fixtures.issues import issue_text

PAST = "2020-01-06-past-sample.md"
FUTURE = "2099-01-04-future-sample.md"


def _write_issues(services: Services) -> Path:
    folder = services.settings.path(services.settings.issues_dir)
    (folder / PAST).write_text(issue_text(title="지난 호", date="2020-01-06 09:00"), "utf-8")
    (folder / FUTURE).write_text(issue_text(title="다음 호", date="2099-01-04 09:00"), "utf-8")
    return folder


def _outbox(services: Services) -> list[str]:
    box = mailbox.Maildir(services.settings.path(services.settings.delivery.outbox_dir))
    return [str(message["To"]) for message in box]


def test_demo_sends_past_issues_once_and_leaves_future_ones_scheduled(
    services: Services,
) -> None:
    _write_issues(services)
    report = prepare_demo(services)
    assert report.readers_added == len(SAMPLE_READERS)
    assert report.sent == ["past-sample"]
    statuses = {issue.slug: issue.status for issue in list_issues(services)}
    assert statuses == {"past-sample": "sent", "future-sample": "scheduled"}
    # Every sample reader follows the default newsletter, so each got the past issue once.
    assert len(_outbox(services)) == len(SAMPLE_READERS)

    again = prepare_demo(services)
    assert again.readers_added == 0 and again.sent == []
    assert len(_outbox(services)) == len(SAMPLE_READERS)


def test_demo_adds_no_readers_to_a_project_that_has_subscribers(services: Services) -> None:
    from newsletter import db
    from subscribers.service import Source, subscribe

    with db.transaction(services.sessions) as session:
        subscribe(session, email="real@example.net", newsletters=["weekly"], source=Source.FORM)
    assert prepare_demo(services).readers_added == 0
    with services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_demo_never_sends_through_a_real_provider(services: Services) -> None:
    _write_issues(services)
    real = services.settings.model_copy(
        update={"delivery": services.settings.delivery.model_copy(update={"backend": "smtp"})}
    )
    report = prepare_demo(
        Services(settings=real, engine=services.engine, sessions=services.sessions)
    )
    assert report.sent == [] and report.readers_added == 0
    assert report.issues == 2


def test_the_projects_own_sample_issues_all_parse(services: Services) -> None:
    folder = services.settings.path(services.settings.issues_dir)
    for path in sorted((REPO / "issues").glob("*.md")):
        shutil.copy(path, folder / path.name)
    report = prepare_demo(services)
    assert report.errors == [] and report.issues == len(list((REPO / "issues").glob("*.md")))
