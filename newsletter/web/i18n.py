"""Page texts in Korean and English, and the choice of language for a request.

The texts live in ``templates/web/i18n/{ko,en}.yaml`` so that an operator rewords a page
without touching Python: a project's own file overrides the packaged one key by key.
The language of a request is, in order: an explicit ``?lang=``,
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
    def load(cls, *directories: Path) -> Catalog:
        """Read ``ko.yaml`` and ``en.yaml``; the first directory's texts win, key by key.

        Given the project's ``i18n/`` and the packaged one, a project that rewords a few
        texts keeps the packaged ones for every other key (also for keys added in later
        versions). A missing file is skipped; none found for a language is an error.
        """
        messages: dict[str, dict[str, str]] = {}
        for lang in LANGUAGES:
            paths = [d / f"{lang}.yaml" for d in directories if (d / f"{lang}.yaml").exists()]
            if not paths:
                where = directories[0] / f"{lang}.yaml" if directories else f"{lang}.yaml"
                raise ConfigError(f"{where}: cannot read page texts: file not found")
            merged: dict[str, str] = {}
            for path in reversed(paths):
                merged.update(_read_texts(path))
            messages[lang] = merged
        return cls(messages)

    def text(self, lang: str, key: str, **values: Any) -> str:
        """The text for ``key`` in ``lang`` (English, then the key itself, as fallbacks)."""
        template = self.messages.get(lang, {}).get(key) or self.messages["en"].get(key) or key
        return template.format(**values) if values else template


def _read_texts(path: Path) -> dict[str, str]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read page texts: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: page texts must be a mapping of keys")
    return _flatten(data)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat
