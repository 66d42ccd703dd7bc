"""Commands: schedule, cancel."""

from __future__ import annotations
