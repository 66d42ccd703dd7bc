"""Commands: subscribers add|remove|list|import|export."""

from __future__ import annotations
