"""Page texts in Korean and English, and the choice of language for a request.

The texts live in ``templates/web/i18n/{ko,en}.yaml`` so that an operator rewords a page
without touching Python. The language of a request is, in order: an explicit ``?lang=``,
the browser's ``Accept-Language`` (highest weight among the supported ones), the site's
``site.language``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from newsletter.errors import ConfigError

LANGUAGES = ("ko", "en")
_RANGE = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$"
)


def parse_accept_language(header: str) -> list[tuple[str, float]]:
    """The language ranges of an ``Accept-Language`` header, best first; junk is skipped."""
    ranges: list[tuple[int, str, float]] = []
    for position, part in enumerate(header.split(",")[:32]):
        match = _RANGE.match(part)
        if not match:
            continue
        try:
            weight = float(match[2]) if match[2] is not None else 1.0
        except ValueError:
            continue
        if 0 < weight <= 1:
            ranges.append((position, match[1].lower(), weight))
    ranges.sort(key=lambda item: (-item[2], item[0]))
    return [(tag, weight) for _position, tag, weight in ranges]


def choose_language(*, explicit: str | None, accept_language: str | None, default: str) -> str:
    """The page language: ``explicit`` if supported, else the browser's best, else ``default``."""
    if explicit in LANGUAGES:
        return str(explicit)
    # "*" names no language in particular: it falls through to the site's default.
    for tag, _weight in parse_accept_language(accept_language or ""):
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return default


@dataclass(frozen=True)
class Catalog:
    """The texts of every supported language, keyed like ``subscribe.title``."""

    messages: Mapping[str, Mapping[str, str]]

    @classmethod
    def load(cls, directory: Path) -> Catalog:
        """Read ``ko.yaml`` and ``en.yaml`` from ``directory``."""
        messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            path = directory / f"{lang}.yaml"
            try:
                data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError) as exc:
                raise ConfigError(f"{path}: cannot read page texts: {exc}") from None
            messages[lang] = _flatten(data)
        return cls(messages)

    def text(self, lang: str, key: str, **values: Any) -> str:
        """The text for ``key`` in ``lang`` (English, then the key itself, as fallbacks)."""
        template = self.messages.get(lang, {}).get(key) or self.messages["en"].get(key) or key
        return template.format(**values) if values else template


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat
