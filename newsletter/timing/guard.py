"""Starting a send by hand inside quiet hours: refused unless the editor insists (``--force``)."""

from __future__ import annotations

from datetime import datetime

from newsletter.delivery import store as delivery_store
from newsletter.issues import find_issue
from newsletter.services import Services
from newsletter.timing.plan import refuse_in_quiet_hours
from subscribers.db import utcnow


def refuse_send_in_quiet_hours(
    services: Services, slug: str, *, now: datetime | None = None
) -> None:
    """``QuietHoursError`` if ``slug`` has no send yet and its newsletter is in quiet hours.

    An issue that already has a send is not started again by ``send --now`` (the engine
    returns its state), so there is nothing to refuse.
    """
    with services.sessions() as session:
        if delivery_store.send_for_issue(session, slug) is not None:
            return
    issue = find_issue(services.settings, slug)
    refuse_in_quiet_hours(services.settings, issue.newsletter_id, now or utcnow())
