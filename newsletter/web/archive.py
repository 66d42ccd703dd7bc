"""Routes: the web archive: /archive, /archive/{slug}, /feed.xml."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
