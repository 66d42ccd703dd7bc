"""The delivery engine's tables: sends and the per-recipient ledger of deliveries."""

from __future__ import annotations
