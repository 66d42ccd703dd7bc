"""What ``newsletter check`` says about an issue's A/B test (its errors are the parser's)."""

from __future__ import annotations

from newsletter.abtest.spec import wait_label
from newsletter.advertising.subject import wrong_prefix
from newsletter.issues import ParsedIssue
from newsletter.settings import Settings

#: Subjects longer than this are cut in most inboxes (as for a single subject).
LONG_SUBJECT = 60


def ab_findings(settings: Settings, issue: ParsedIssue) -> list[tuple[str, str, str]]:
    """(level, code, message) about the issue's A/B test; none without ``subjects:``.

    The first subject is checked as the issue's subject (``check``, advertising); here the
    others: too long, or a hand-written advertising prefix on an ``ad: true`` issue."""
    test = issue.ab_test
    if test is None:
        return []
    found: list[tuple[str, str, str]] = []
    if settings.newsletter(issue.newsletter_id).tracking == "off":
        found.append(
            (
                "warning",
                "ab_without_tracking",
                f"subjects: tracking is off for {issue.newsletter_id}, so nothing can be "
                f"measured: everyone gets the first subject ({test.subjects[0]!r}) at once",
            )
        )
    for number, subject in enumerate(test.subjects[1:], start=2):
        if issue.ad and (prefix := wrong_prefix(subject)) is not None:
            found.append(
                (
                    "error",
                    "ad_subject_prefix",
                    f"subjects: subject {number} has a hand-written advertising prefix "
                    f"{prefix!r}; remove it: each subject gets exactly '(광고) ' in front",
                )
            )
        if len(subject) > LONG_SUBJECT:
            found.append(
                (
                    "warning",
                    "long_subject",
                    f"subject {number} is {len(subject)} characters; inboxes cut after "
                    f"~{LONG_SUBJECT}",
                )
            )
    return found


def ab_summary(issue: ParsedIssue) -> str:
    """One line describing the test, for people (``check``, ``send --dry-run``)."""
    test = issue.ab_test
    if test is None:
        return ""
    sample = test.sample
    tried_on = (
        f"{sample.count} readers" if sample.count is not None else f"{sample.label} of the readers"
    )
    return (
        f"A/B test: {len(test.subjects)} subjects tried on {tried_on}; "
        f"the winner goes to the rest after {wait_label(test.wait)}"
    )
