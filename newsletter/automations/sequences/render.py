"""A step rendered once per run of its send (never per reader), from its file.

The delivery engine renders a send through ``render_for_send``; for a step's send
(``sequence/NEWSLETTER/NAME``) that comes here, so a takeover of a crashed step run, a
PostgreSQL worker joining one, or ``sends resume`` render the step as the walk does.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from newsletter.errors import IssueNotFound, SendStateError
from newsletter.issues import ISSUE_SUFFIXES, display_path

from .files import parse_step_file, sequences_dir
from .models import SLUG_PREFIX

if TYPE_CHECKING:
    from pathlib import Path

    from newsletter.render import RenderedIssue
    from newsletter.services import Services

#: Rendered steps by (file, content hash, templates' last change): a run renders only a
#: step (or an email template) that changed.
_CACHE: dict[tuple[str, str, float], RenderedIssue] = {}
_CACHE_SIZE = 64
_LOCK = threading.Lock()


def is_step_slug(slug: str) -> bool:
    """Whether a send's ``issue_slug`` names a sequence step."""
    return slug.startswith(SLUG_PREFIX)


def step_path(services: Services, slug: str) -> Path:
    """The file of the step named ``sequence/NEWSLETTER/NAME``; ``IssueNotFound`` if gone."""
    newsletter_id, _, name = slug[len(SLUG_PREFIX) :].partition("/")
    folder = sequences_dir(services.settings) / newsletter_id
    for suffix in ISSUE_SUFFIXES:
        path = folder / f"{name}{suffix}"
        if newsletter_id and name and "/" not in name and path.is_file():
            return path
    where = display_path(services.settings, folder)
    raise IssueNotFound(f"no sequence step {name!r} in {where}/")


def render_step(services: Services, slug: str) -> RenderedIssue:
    """Render the step's file (cached by content); a draft step is refused like a draft issue.

    "View in browser" leads to the archive (a step has no archive page of its own).
    """
    from newsletter.render import render_issue

    path = step_path(services, slug)
    step = parse_step_file(services.settings, path)
    if step.draft:
        raise SendStateError(f"{display_path(services.settings, path)}: the step is a draft")
    key = (str(path), step.issue.source_hash, _templates_stamp(services))
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    rendered = render_issue(services.settings, step.issue)
    archive = f"{services.settings.site.url}/archive"
    rendered = replace(rendered, default_values={**rendered.default_values, "view_url": archive})
    with _LOCK:
        if len(_CACHE) >= _CACHE_SIZE:
            _CACHE.clear()
        _CACHE[key] = rendered
    return rendered


def _templates_stamp(services: Services) -> float:
    """The newest modification time among the project's email templates (0 if none)."""
    folder = services.settings.path(services.settings.templates_dir) / "email"
    try:
        return max((entry.stat().st_mtime for entry in folder.iterdir()), default=0.0)
    except OSError:
        return 0.0
