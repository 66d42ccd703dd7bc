"""Commands: send, sends list|show|resume, stats, worker."""

from __future__ import annotations
