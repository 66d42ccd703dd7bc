"""The five emails the project renders, as readers get them: the two seeds and the three samples.

Shared by the inbox-quality tests (keep-all, SpamAssassin, no external requests, screenshots).
The seeds are read from ../shared/seeds and only ever copied into a test's temp project.
"""

from __future__ import annotations

import email
import email.policy
import shutil
from email.message import EmailMessage
from pathlib import Path

from newsletter.delivery.backends.outbox import OutboxBackend
from newsletter.delivery.content import issue_content, render_for_test
from newsletter.delivery.links import Links
from newsletter.delivery.message import Recipient, build_message
from newsletter.delivery.reports import send_test
from newsletter.importers import write_issue
from newsletter.importers.brunch import import_brunch
from newsletter.issues import parse_issue_file
from newsletter.services import Services
from newsletter.settings import Settings
from tests.conftest import REPO, seed_path

#: The samples shipped in the project's issues/ folder.
SAMPLES = sorted((REPO / "issues").glob("*.md"))
#: Names of the five emails, in the order :func:`install_issues` returns them.
NAMES = ["seed-000", "seed-001", *(path.stem for path in SAMPLES)]


def install_issues(settings: Settings) -> dict[str, str]:
    """Put the seeds (imported like the importers do) and the samples into the project's
    issues dir; returns name → slug."""
    folder = settings.path(settings.issues_dir)
    folder.mkdir(parents=True, exist_ok=True)
    slugs: dict[str, str] = {}
    brunch = write_issue(import_brunch(seed_path("000")), folder, force=True)
    slugs["seed-000"] = parse_issue_file(settings, brunch).slug
    jekyll = folder / f"2025-08-18-{seed_path('001').stem}.md"
    shutil.copyfile(seed_path("001"), jekyll)
    slugs["seed-001"] = parse_issue_file(settings, jekyll).slug
    for sample in SAMPLES:
        copied = folder / sample.name
        shutil.copyfile(sample, copied)
        slugs[sample.stem] = parse_issue_file(settings, copied).slug
    return slugs


def real_message(services: Services, slug: str, to: str = "reader@example.net") -> bytes:
    """The message the outbox backend writes for one subscriber of a real send."""
    rendered = render_for_test(services, slug)
    links = Links(services.settings, services.tokens, rendered.newsletter_id)
    content = issue_content(services, rendered, links=links, send_id=1)
    values = links.values(42, name=rendered.name_fallback)
    recipient = Recipient(email=to, values=values, headers=links.headers(values["unsubscribe_url"]))
    return build_message(content, recipient, eight_bit=True)


def copy_message(services: Services, slug: str, tmp_path: Path) -> bytes:
    """The test copy as the outbox backend writes it (through ``send_test``)."""
    box = tmp_path / f"box-{slug}"
    send_test(services, slug, to=["editor@example.net"], backend=OutboxBackend(box))
    (written,) = sorted((box / "new").iterdir())
    return written.read_bytes()


def parts(raw: bytes) -> tuple[EmailMessage, str, str]:
    """(message, decoded HTML part, decoded text part) of a raw message."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    assert html is not None and text is not None
    return message, str(html.get_content()), str(text.get_content())
