"""Routes: subscriber pages: /subscribe, /confirm, /unsubscribe, /preferences."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
