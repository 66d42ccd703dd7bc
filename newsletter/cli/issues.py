"""Commands: render, check, import, issues list|show|sync, init, demo."""

from __future__ import annotations
